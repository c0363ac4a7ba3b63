// The files a command reads, from the paths the user gave: files as given, directories
// walked recursively with their files in sorted path order, so the same inputs always
// give the same documents in the same order (and so the same validation split).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace edgelm::data {

struct InputFile {
    std::string path;
    uint64_t size = 0;  // bytes, for progress and ETA
};

// Throws ArgumentError naming the path when one does not exist or is neither a regular
// file nor a directory, and when there are no files at all. Hidden files and directories
// (names starting with '.') inside a walked directory are skipped.
std::vector<InputFile> expand_inputs(const std::vector<std::string>& paths,
                                     const std::string& command);

}  // namespace edgelm::data
