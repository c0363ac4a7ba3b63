// The C API (include/edgelm/edgelm.h) over Model and Session: exceptions become status
// codes plus a thread-local message.
#include "edgelm/edgelm.h"

#include <cstring>
#include <new>
#include <string>

#include "core/error.h"
#include "runtime/session.h"

struct edgelm_model {
    std::shared_ptr<const edgelm::Model> model;
};

struct edgelm_session {
    std::unique_ptr<edgelm::Session> session;
};

namespace {

thread_local std::string g_last_error;

template <typename F>
edgelm_status guarded(F&& f) {
    try {
        f();
        return EDGELM_OK;
    } catch (const edgelm::IoError& e) {
        g_last_error = e.what();
        return EDGELM_ERR_IO;
    } catch (const edgelm::FormatError& e) {
        g_last_error = e.what();
        return EDGELM_ERR_FORMAT;
    } catch (const edgelm::ArgumentError& e) {
        g_last_error = e.what();
        return EDGELM_ERR_ARGUMENT;
    } catch (const std::exception& e) {
        g_last_error = e.what();
        return EDGELM_ERR_INTERNAL;
    } catch (...) {
        g_last_error = "unknown error";
        return EDGELM_ERR_INTERNAL;
    }
}

edgelm_status null_argument(const char* what) {
    g_last_error = std::string(what) + " must not be NULL";
    return EDGELM_ERR_ARGUMENT;
}

edgelm_status copy_out(const void* src, size_t n, size_t elem, void* out, size_t capacity,
                       size_t* n_out) {
    if (n_out) *n_out = n;
    if (n > capacity) {
        g_last_error = "output buffer holds " + std::to_string(capacity) + " elements, " +
                       std::to_string(n) + " needed";
        return EDGELM_ERR_ARGUMENT;
    }
    if (n > 0) std::memcpy(out, src, n * elem);
    return EDGELM_OK;
}

}  // namespace

extern "C" {

const char* edgelm_version(void) {
    return "0.1.0";
}
const char* edgelm_last_error(void) {
    return g_last_error.c_str();
}

edgelm_session_params edgelm_session_default_params(void) {
    const edgelm::SamplerParams s;
    return {0,     1, s.temperature, s.top_k, s.top_p, s.min_p, s.repeat_penalty, s.repeat_last_n,
            s.seed};
}

edgelm_status edgelm_model_load(const char* path, edgelm_model** out) {
    if (!path) return null_argument("path");
    if (!out) return null_argument("out");
    *out = nullptr;
    return guarded([&] { *out = new edgelm_model{edgelm::Model::load(path)}; });
}

void edgelm_model_free(edgelm_model* model) {
    delete model;
}

int32_t edgelm_model_vocab_size(const edgelm_model* m) {
    return m ? m->model->config().vocab : 0;
}
int32_t edgelm_model_context_length(const edgelm_model* m) {
    return m ? m->model->config().ctx : 0;
}
edgelm_token edgelm_model_bos(const edgelm_model* m) {
    return m ? m->model->tokenizer().vocab().bos : -1;
}
edgelm_token edgelm_model_eos(const edgelm_model* m) {
    return m ? m->model->tokenizer().vocab().eos : -1;
}

edgelm_status edgelm_tokenize(const edgelm_model* m, const char* text, size_t len, bool add_bos,
                              edgelm_token* out, size_t capacity, size_t* n_out) {
    if (!m) return null_argument("model");
    if (!text && len > 0) return null_argument("text");
    if (!out && capacity > 0) return null_argument("out");
    edgelm_status st = EDGELM_OK;
    edgelm_status g = guarded([&] {
        const auto ids =
            m->model->tokenizer().encode(std::string_view(text ? text : "", len), add_bos);
        st = copy_out(ids.data(), ids.size(), sizeof(edgelm_token), out, capacity, n_out);
    });
    return g != EDGELM_OK ? g : st;
}

edgelm_status edgelm_token_to_piece(const edgelm_model* m, edgelm_token token, char* out,
                                    size_t capacity, size_t* n_out) {
    if (!m) return null_argument("model");
    if (!out && capacity > 0) return null_argument("out");
    if (token < 0 || token >= m->model->config().vocab) {
        g_last_error = "token id " + std::to_string(token) + " is outside the vocabulary";
        return EDGELM_ERR_ARGUMENT;
    }
    edgelm_status st = EDGELM_OK;
    edgelm_status g = guarded([&] {
        const std::string piece = m->model->tokenizer().token_to_piece(token);
        st = copy_out(piece.data(), piece.size(), 1, out, capacity, n_out);
    });
    return g != EDGELM_OK ? g : st;
}

edgelm_status edgelm_session_new(const edgelm_model* m, const edgelm_session_params* p,
                                 edgelm_session** out) {
    if (!m) return null_argument("model");
    if (!out) return null_argument("out");
    *out = nullptr;
    const edgelm_session_params params = p ? *p : edgelm_session_default_params();
    return guarded([&] {
        edgelm::SessionParams sp;
        sp.n_ctx = params.n_ctx;
        sp.n_threads = params.n_threads;
        sp.sampler = {params.temperature,    params.top_k,         params.top_p, params.min_p,
                      params.repeat_penalty, params.repeat_last_n, params.seed};
        *out = new edgelm_session{std::make_unique<edgelm::Session>(m->model, sp)};
    });
}

void edgelm_session_free(edgelm_session* s) {
    delete s;
}

edgelm_status edgelm_session_eval(edgelm_session* s, const edgelm_token* tokens, size_t n,
                                  const float** logits) {
    if (!s) return null_argument("session");
    if (!tokens) return null_argument("tokens");
    return guarded([&] {
        auto l = s->session->eval(std::span<const edgelm::TokenId>(tokens, n));
        if (logits) *logits = l.data();
    });
}

edgelm_status edgelm_session_sample(edgelm_session* s, edgelm_token* out) {
    if (!s) return null_argument("session");
    if (!out) return null_argument("out");
    return guarded([&] { *out = s->session->sample(); });
}

int32_t edgelm_session_position(const edgelm_session* s) {
    return s ? s->session->position() : 0;
}
void edgelm_session_reset(edgelm_session* s) {
    if (s) s->session->reset();
}

edgelm_status edgelm_session_save(const edgelm_session* s, const char* path) {
    if (!s) return null_argument("session");
    if (!path) return null_argument("path");
    return guarded([&] { s->session->save_state(path); });
}

edgelm_status edgelm_session_load(edgelm_session* s, const char* path) {
    if (!s) return null_argument("session");
    if (!path) return null_argument("path");
    return guarded([&] { s->session->load_state(path); });
}

}  // extern "C"
