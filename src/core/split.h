// Splitting option values such as "A:0.7,B:0.3" into fields.
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace edgelm {

// The fields of `s` between `sep`s; a trailing separator adds no empty field.
inline std::vector<std::string> split_fields(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string part;
    std::istringstream in(s);
    while (std::getline(in, part, sep)) out.push_back(part);
    return out;
}

}  // namespace edgelm
