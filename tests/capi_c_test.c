/* The C API compiled as C11: load, tokenize, generate, save/load state, errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgelm/edgelm.h"

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s (%s)\n", __FILE__, __LINE__, #cond, \
                    edgelm_last_error());                                              \
            return 1;                                                                  \
        }                                                                              \
    } while (0)

static int generate(edgelm_session* s, edgelm_token* out, int n) {
    for (int i = 0; i < n; ++i) {
        if (edgelm_session_sample(s, &out[i]) != EDGELM_OK) return 0;
        if (edgelm_session_eval(s, &out[i], 1, NULL) != EDGELM_OK) return 0;
    }
    return 1;
}

int main(int argc, char** argv) {
    CHECK(argc == 3); /* model path, state path */
    edgelm_model* model = NULL;
    CHECK(edgelm_model_load("/nonexistent.gguf", &model) == EDGELM_ERR_IO);
    CHECK(strstr(edgelm_last_error(), "/nonexistent.gguf") != NULL);
    CHECK(model == NULL);
    CHECK(edgelm_model_load(argv[1], &model) == EDGELM_OK);
    CHECK(edgelm_model_vocab_size(model) == 300);

    edgelm_token tokens[64];
    size_t n = 0;
    const char* text = "hello world";
    CHECK(edgelm_tokenize(model, text, strlen(text), true, tokens, 1, &n) == EDGELM_ERR_ARGUMENT);
    CHECK(n > 1);
    CHECK(edgelm_tokenize(model, text, strlen(text), true, tokens, 64, &n) == EDGELM_OK);
    CHECK(tokens[0] == edgelm_model_bos(model));

    edgelm_session_params p = edgelm_session_default_params();
    p.n_threads = 2;
    p.seed = 17;
    edgelm_session* a = NULL;
    CHECK(edgelm_session_new(model, &p, &a) == EDGELM_OK);
    const float* logits = NULL;
    CHECK(edgelm_session_eval(a, tokens, n, &logits) == EDGELM_OK && logits != NULL);
    CHECK(edgelm_session_save(a, argv[2]) == EDGELM_OK);
    edgelm_token first[8], second[8];
    CHECK(generate(a, first, 8));

    edgelm_model_free(model); /* the sessions keep it alive */
    edgelm_session* b = NULL;
    CHECK(edgelm_session_new(NULL, &p, &b) == EDGELM_ERR_ARGUMENT);
    /* A second session resumes from the saved state to the same tokens. */
    CHECK(edgelm_model_load(argv[1], &model) == EDGELM_OK);
    CHECK(edgelm_session_new(model, &p, &b) == EDGELM_OK);
    CHECK(edgelm_session_load(b, argv[2]) == EDGELM_OK);
    CHECK(edgelm_session_position(b) == (int32_t)n);
    CHECK(generate(b, second, 8));
    CHECK(memcmp(first, second, sizeof first) == 0);

    char piece[64];
    size_t len = 0;
    CHECK(edgelm_token_to_piece(model, second[0], piece, sizeof piece, &len) == EDGELM_OK);
    CHECK(edgelm_token_to_piece(model, 100000, piece, sizeof piece, &len) == EDGELM_ERR_ARGUMENT);

    edgelm_token bad = 5000;
    CHECK(edgelm_session_eval(b, &bad, 1, NULL) == EDGELM_ERR_ARGUMENT);
    edgelm_session_free(a);
    edgelm_session_free(b);
    edgelm_model_free(model);
    printf("capi_c_test: ok\n");
    return 0;
}
