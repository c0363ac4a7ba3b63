// POST /v1/embeddings and /v1/classify: texts run through the model without generating,
// each as a pooled job (the engine batches them with whatever else is running), then
// L2-normalised (embeddings) or put through the classification head (the same numbers as
// `edgelm classify`).
#include <cmath>

#include "runtime/sequence_classifier.h"
#include "serve/client_connection.h"
#include "serve/server_handlers.h"

namespace edgelm::serve {

using nlohmann::json;

void Server::Handlers::pool(const httplib::Request& req, httplib::Response& res, bool classify) {
    const std::string endpoint = classify ? "classify" : "embeddings";
    const auto t0 = Clock::now();
    const json body = parse_body(req.body);
    std::vector<std::string> texts;
    std::vector<std::vector<int32_t>> token_inputs;
    bool base64 = false;
    std::string user;
    if (auto u = body.find("user"); u != body.end() && u->is_string()) user = u->get<std::string>();
    if (classify) {
        texts = parse_classify_request(body).texts;
    } else {
        EmbeddingRequest e = parse_embedding_request(body);
        texts = std::move(e.texts);
        token_inputs = std::move(e.token_inputs);
        base64 = e.base64;
    }
    const ServedModel& m = choose(req, user);
    replace_header(res, "X-Edgelm-Variant", m.variant);
    const Tokenizer& tok = m.model->tokenizer();
    const auto& head = m.model->weights().classifier;
    if (classify && !head)
        throw RequestError(400,
                           "the model has no classification head; train one with `edgelm finetune "
                           "--task classify`",
                           "model", "no_classifier");
    std::vector<std::vector<TokenId>> inputs;
    for (const std::string& text : texts)
        inputs.push_back(classify ? classifier_tokens(tok, text, head->max_tokens)
                                  : tok.encode(text, tok.vocab().add_bos));
    for (const auto& ids : token_inputs) {
        for (int32_t id : ids)
            if (id >= tok.size())
                throw bad_field(
                    "input", "holds token id " + std::to_string(id) + ", outside the vocabulary");
        inputs.push_back(ids);
    }
    if (static_cast<int>(inputs.size()) > m.engine->capacity())
        throw bad_field("input", "holds " + std::to_string(inputs.size()) +
                                     " inputs; this server takes at most " +
                                     std::to_string(m.engine->capacity()) +
                                     " at once (--slots + --queue)");
    std::vector<std::shared_ptr<Job>> jobs;
    int prompt_tokens = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
        if (inputs[i].empty()) throw bad_field("input", "[" + std::to_string(i) + "] is empty");
        if (static_cast<int>(inputs[i].size()) > m.engine->n_ctx())
            throw RequestError(
                400,
                "input[" + std::to_string(i) + "] has " + std::to_string(inputs[i].size()) +
                    " tokens, more than the context of " + std::to_string(m.engine->n_ctx()),
                "input", "context_length_exceeded");
        auto job = std::make_shared<Job>();
        job->kind = Job::Kind::Pool;
        job->prompt = std::move(inputs[i]);
        job->deadline = t0 + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(s.options_.timeout_s));
        prompt_tokens += static_cast<int>(job->prompt.size());
        jobs.push_back(std::move(job));
    }
    if (!submit(*m.engine, jobs)) throw overloaded(*m.engine);
    const ClientConnection conn(req.remote_addr, req.remote_port, req.local_port);
    std::vector<SampledToken> none;
    for (auto& job : jobs) {
        FinishReason r;
        while ((r = job->wait(none, kPoll)) == FinishReason::None)
            if (!conn.alive()) {
                for (auto& j : jobs) m.engine->cancel(*j);
                s.metrics_.add("edgelm_cancelled_total",
                               {{"reason", "disconnected"}, {"variant", m.variant}});
                return;
            }
        if (r != FinishReason::Stop) {
            for (auto& j : jobs) m.engine->cancel(*j);
            throw r == FinishReason::Timeout
                ? deadline_error()
                : RequestError(500, "pooling failed: " + job->error(), "", "server_error");
        }
    }
    json data = json::array();
    for (size_t i = 0; i < jobs.size(); ++i) {
        std::vector<float>& v = jobs[i]->pooled;
        if (classify) {
            const ClassPrediction p = classify_pooled(*head, v);
            json probs = json::object();
            for (size_t l = 0; l < head->labels.size(); ++l) probs[head->labels[l]] = p.probs[l];
            data.push_back({{"index", i},
                            {"label", head->labels[static_cast<size_t>(p.label)]},
                            {"probs", probs},
                            {"tokens", jobs[i]->prompt.size()}});
            continue;
        }
        double norm = 0;  // L2-normalised, as OpenAI's embeddings are
        for (float x : v) norm += static_cast<double>(x) * x;
        const float inv = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.0f;
        for (float& x : v) x *= inv;
        data.push_back({{"object", "embedding"},
                        {"index", i},
                        {"embedding", base64 ? json(base64_floats(v)) : json(v)}});
    }
    const json r = {{"object", classify ? "classification" : "list"},
                    {"model", m.model_id},
                    {"data", data},
                    {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
    res.set_content(dump(r), "application/json");
    count(endpoint, 200, m.variant);
    s.metrics_.add("edgelm_prompt_tokens_total", {{"variant", m.variant}}, prompt_tokens);
    record_duration(endpoint, m.variant, t0);
}

}  // namespace edgelm::serve
