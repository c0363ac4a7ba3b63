// DataMixture: which data directory each training row comes from, by step.
#include "core/error.h"
#include "core/split.h"
#include "train/trainer.h"

namespace edgelm::train {

std::vector<double> DataMixture::weights_at(int64_t step) const {
    if (schedule.empty()) return std::vector<double>(dirs.size(), 1.0);
    const std::vector<double>* w = &schedule.front().second;
    for (const auto& [from, weights] : schedule)
        if (from <= step) w = &weights;
    return *w;
}

DataMixture DataMixture::parse(const std::vector<std::string>& dirs, const std::string& text) {
    DataMixture m;
    m.dirs = dirs;
    if (dirs.empty()) throw ArgumentError("no --data directory given");
    if (text.empty()) return m;
    const auto usage = [&](const std::string& what) {
        return ArgumentError("--mixture '" + text + "': " + what +
                             " (expected e.g. 'DIR_A:0.7,DIR_B:0.3;@1000=DIR_A:0.5,DIR_B:0.5')");
    };
    int64_t last_step = -1;
    for (const std::string& phase_text : split_fields(text, ';')) {
        std::string body = phase_text;
        int64_t from = 0;
        if (!body.empty() && body[0] == '@') {
            const size_t eq = body.find('=');
            if (eq == std::string::npos) throw usage("a phase '@STEP' needs '=' after the step");
            try {
                from = std::stoll(body.substr(1, eq - 1));
            } catch (const std::exception&) {
                throw usage("bad step '" + body.substr(1, eq - 1) + "'");
            }
            body = body.substr(eq + 1);
        } else if (last_step >= 0) {
            throw usage("every phase after the first starts with '@STEP='");
        }
        if (from <= last_step) throw usage("phase steps must increase");
        if (last_step < 0 && from != 0) throw usage("the first phase starts at step 0");
        last_step = from;
        std::vector<double> weights(dirs.size(), 0.0);
        double total = 0;
        for (const std::string& item : split_fields(body, ',')) {
            const size_t colon = item.rfind(':');
            if (colon == std::string::npos) throw usage("'" + item + "' has no ':WEIGHT'");
            const std::string dir = item.substr(0, colon);
            size_t index = dirs.size();
            for (size_t i = 0; i < dirs.size(); ++i)
                if (dirs[i] == dir) index = i;
            if (index == dirs.size()) throw usage("'" + dir + "' is not one of the --data dirs");
            double w = -1;
            try {
                w = std::stod(item.substr(colon + 1));
            } catch (const std::exception&) {
            }
            if (!(w >= 0)) throw usage("weight '" + item.substr(colon + 1) + "' is not >= 0");
            weights[index] = w;
            total += w;
        }
        if (!(total > 0)) throw usage("a phase has no positive weight");
        m.schedule.emplace_back(from, weights);
    }
    return m;
}

}  // namespace edgelm::train
