#include "data/input_files.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "core/error.h"

namespace edgelm::data {

namespace fs = std::filesystem;

std::vector<InputFile> expand_inputs(const std::vector<std::string>& paths,
                                     const std::string& command) {
    std::vector<InputFile> files;
    if (paths.empty()) throw ArgumentError(command + ": no input given; pass --input FILES|DIRS");
    for (const std::string& given : paths) {
        std::error_code ec;
        const fs::file_status st = fs::status(given, ec);
        if (ec || !fs::exists(st))
            throw ArgumentError(command + ": input '" + given + "' does not exist");
        if (fs::is_regular_file(st)) {
            files.push_back({given, fs::file_size(given)});
            continue;
        }
        if (!fs::is_directory(st))
            throw ArgumentError(command + ": input '" + given +
                                "' is neither a regular file nor a directory");
        std::vector<InputFile> found;
        fs::recursive_directory_iterator it(given, ec), end;
        if (ec) throw IoError(given + ": cannot list: " + ec.message());
        for (; it != end; it.increment(ec)) {
            if (ec) throw IoError(given + ": cannot list: " + ec.message());
            const fs::path& p = it->path();
            if (p.filename().string().starts_with(".")) {
                if (it->is_directory()) it.disable_recursion_pending();
                continue;
            }
            if (it->is_regular_file()) found.push_back({p.string(), it->file_size()});
        }
        std::sort(found.begin(), found.end(),
                  [](const InputFile& a, const InputFile& b) { return a.path < b.path; });
        files.insert(files.end(), found.begin(), found.end());
    }
    if (files.empty()) throw ArgumentError(command + ": the input directories hold no files");
    return files;
}

}  // namespace edgelm::data
