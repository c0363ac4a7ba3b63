/* edgelm C API: load a GGUF model, run sessions over it, tokenize and sample.
 *
 * Conventions
 *  - Opaque handles; every call that can fail returns an edgelm_status, and
 *    edgelm_last_error() gives the message of the calling thread's last failure.
 *  - One model serves many sessions (on any threads); one session is used by one
 *    thread at a time. A session keeps its model alive: edgelm_model_free only
 *    drops the caller's reference.
 *  - Nothing here aborts on bad input: model and state files are validated.
 */
#ifndef EDGELM_EDGELM_H
#define EDGELM_EDGELM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t edgelm_token;
typedef struct edgelm_model edgelm_model;
typedef struct edgelm_session edgelm_session;

typedef enum edgelm_status {
    EDGELM_OK = 0,
    EDGELM_ERR_IO = 1,       /* a file could not be opened, read or written */
    EDGELM_ERR_FORMAT = 2,   /* a model or state file is malformed */
    EDGELM_ERR_ARGUMENT = 3, /* an argument cannot work (see the message) */
    EDGELM_ERR_INTERNAL = 4, /* anything else, e.g. out of memory */
} edgelm_status;

typedef struct edgelm_session_params {
    int32_t n_ctx;     /* 0 = the model's trained context */
    int32_t n_threads; /* >= 1 */
    float temperature; /* 0 = greedy */
    int32_t top_k;     /* 0 = off */
    float top_p;       /* 1 = off */
    float min_p;       /* 0 = off */
    float repeat_penalty; /* 1 = off */
    int32_t repeat_last_n;
    uint64_t seed;
} edgelm_session_params;

const char* edgelm_version(void);
const char* edgelm_last_error(void);

edgelm_session_params edgelm_session_default_params(void);

edgelm_status edgelm_model_load(const char* path, edgelm_model** out);
void edgelm_model_free(edgelm_model* model);
int32_t edgelm_model_vocab_size(const edgelm_model* model);
int32_t edgelm_model_context_length(const edgelm_model* model);
edgelm_token edgelm_model_bos(const edgelm_model* model); /* -1 if none */
edgelm_token edgelm_model_eos(const edgelm_model* model); /* -1 if none */

/* Tokenizes len bytes of text into out[0..capacity). *n_out receives the number of
 * tokens; if it exceeds capacity, nothing is written and EDGELM_ERR_ARGUMENT is
 * returned, so a caller can retry with a larger buffer. */
edgelm_status edgelm_tokenize(const edgelm_model* model, const char* text, size_t len, bool add_bos,
                              edgelm_token* out, size_t capacity, size_t* n_out);

/* The bytes of one token as output text (not NUL-terminated); same sizing rule. */
edgelm_status edgelm_token_to_piece(const edgelm_model* model, edgelm_token token, char* out,
                                    size_t capacity, size_t* n_out);

edgelm_status edgelm_session_new(const edgelm_model* model, const edgelm_session_params* params,
                                 edgelm_session** out);
void edgelm_session_free(edgelm_session* session);

/* Runs n tokens; *logits (if not NULL) points at the last token's vocab_size logits,
 * valid until the next call on this session. */
edgelm_status edgelm_session_eval(edgelm_session* session, const edgelm_token* tokens, size_t n,
                                  const float** logits);
edgelm_status edgelm_session_sample(edgelm_session* session, edgelm_token* out);
int32_t edgelm_session_position(const edgelm_session* session);
void edgelm_session_reset(edgelm_session* session);

/* Prompt cache: the session's tokens, KV cache and sampler state. */
edgelm_status edgelm_session_save(const edgelm_session* session, const char* path);
edgelm_status edgelm_session_load(edgelm_session* session, const char* path);

#ifdef __cplusplus
}
#endif

#endif /* EDGELM_EDGELM_H */
