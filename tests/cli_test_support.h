// Runs the edgelm binary (EDGELM_BIN, set by tests/CMakeLists.txt) for the CLI tests and
// checks the one-line error contract.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "test_models.h"

namespace edgelm::testing {

struct CliResult {
    int code;
    std::string out, err;
};

inline std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

inline CliResult run_cli(const std::string& args) {
    const std::string out = temp_path("cli.out"), err = temp_path("cli.err");
    const std::string cmd = std::string(EDGELM_BIN) + " " + args + " >" + out + " 2>" + err;
    const int status = std::system(cmd.c_str());
    CliResult r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
    std::filesystem::remove(out);
    std::filesystem::remove(err);
    return r;
}

inline void expect_one_error_line(const CliResult& r, const std::string& needle) {
    EXPECT_NE(r.code, 0);
    EXPECT_EQ(r.err.rfind("edgelm: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << "missing '" << needle << "' in: " << r.err;
}

}  // namespace edgelm::testing
