// edgelm chat through its standard input and output: turns, /reset, /save, a full context,
// and Ctrl-C stopping a reply without ending the program.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli_test_support.h"
#include "test_models.h"

namespace edgelm {
namespace {

using namespace std::chrono_literals;

struct ChatCliTest : ::testing::Test {
    void SetUp() override {
        m = testing::make_test_model(testing::tiny_config(64, 2, 4, 2, 128, 300, 4096, false),
                                     DType::Q8_0, "chat.gguf", 7, 0.3f);
    }
    void TearDown() override { std::filesystem::remove(m.path); }
    testing::TestModel m;
};

TEST_F(ChatCliTest, TurnsResetSaveAndAFullContext) {
    const std::string saved = testing::temp_path("conversation.json");
    const std::string out = testing::temp_path("chat.out");
    const std::string cmd = "printf 'hello\\n/reset\\nhi again\\nand more words here\\n/save " +
                            saved + "\\n' | " + EDGELM_BIN + " chat " + m.path +
                            " --temp 0 -n 8 -c 64 --system 'be brief' > " + out + " 2>&1";
    const int status = std::system(cmd.c_str());
    const std::string text = testing::slurp(out);
    ASSERT_EQ(WEXITSTATUS(status), 0) << text;
    EXPECT_NE(text.find("[conversation reset]"), std::string::npos) << text;
    EXPECT_NE(text.find("[context full: dropped the 2 oldest messages to fit 64 tokens]"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("[saved 3 messages to " + saved + "]"), std::string::npos) << text;
    const auto conversation = nlohmann::json::parse(testing::slurp(saved));
    ASSERT_EQ(conversation.size(), 3u);
    EXPECT_EQ(conversation[0]["role"], "system");
    EXPECT_EQ(conversation[1]["content"], "and more words here");
    EXPECT_EQ(conversation[2]["role"], "assistant");
    std::filesystem::remove(saved);
    std::filesystem::remove(out);
}

TEST_F(ChatCliTest, CtrlCStopsTheReplyNotTheProgram) {
    // A vocabulary without an end-of-sequence token: the reply can only end by Ctrl-C.
    std::vector<ModelTensorSource> tensors = model_tensor_layout(m.config);
    for (ModelTensorSource& t : tensors) {
        const std::vector<float>* stored = &m.weights.at(t.name);
        t.fill = [stored](float* out) { std::copy(stored->begin(), stored->end(), out); };
    }
    Vocabulary vocab = make_synthetic_spm_vocabulary(m.config.vocab);
    vocab.eos = -1;
    write_model(m.path, m.config, vocab, tensors, DType::Q8_0, "endless");
    int in[2], out[2];
    ASSERT_EQ(pipe(in), 0);
    ASSERT_EQ(pipe(out), 0);
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        close(in[1]);
        close(out[0]);
        execl(EDGELM_BIN, EDGELM_BIN, "chat", m.path.c_str(), "--temp", "0", "-n", "100000", "-c",
              "60000", "-t", "1", static_cast<char*>(nullptr));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    auto read_until = [&](const std::string& needle, std::string& text) {
        const auto until = std::chrono::steady_clock::now() + 30s;
        while (text.find(needle) == std::string::npos && std::chrono::steady_clock::now() < until) {
            pollfd p{out[0], POLLIN, 0};
            if (poll(&p, 1, 100) <= 0) continue;
            char buf[4096];
            const ssize_t n = read(out[0], buf, sizeof buf);
            if (n <= 0) break;
            text.append(buf, static_cast<size_t>(n));
        }
        return text.find(needle) != std::string::npos;
    };
    std::string first;
    ASSERT_EQ(write(in[1], "go\n", 3), 3);
    const auto until = std::chrono::steady_clock::now() + 30s;  // some of the reply first
    while (first.size() < 50 && std::chrono::steady_clock::now() < until) {
        pollfd p{out[0], POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        char buf[256];
        const ssize_t n = read(out[0], buf, sizeof buf);
        if (n <= 0) break;
        first.append(buf, static_cast<size_t>(n));
    }
    ASSERT_GE(first.size(), 50u);
    kill(pid, SIGINT);
    EXPECT_TRUE(read_until("[stopped]", first)) << first.size() << " bytes, no [stopped]";
    // Still running: another turn, then the end of input.
    ASSERT_EQ(write(in[1], "/reset\n", 7), 7);
    EXPECT_TRUE(read_until("[conversation reset]", first));
    close(in[1]);
    int status = 0;
    for (int i = 0; i < 300 && waitpid(pid, &status, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(20ms);
    if (waitpid(pid, &status, WNOHANG) == 0 && !WIFEXITED(status)) kill(pid, SIGKILL);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    close(out[0]);
}

}  // namespace
}  // namespace edgelm
