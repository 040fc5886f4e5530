/* test-tokenizer-bos.c — add_bos of HF tokenizer.json files: from a TemplateProcessing post-processor at the
 * top level or inside a Sequence (the shape of real Llama 3 tokenizer.json files: ByteLevel, then
 * TemplateProcessing with <|begin_of_text|> first), and off without one. The expected ids are the file's own
 * vocabulary ids (BOS = 3, "ab" = 2 after the one merge).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "test-util.h"
#include "tokenizer.h"

#define HEAD "{\"added_tokens\":[{\"id\":3,\"content\":\"<|begin_of_text|>\",\"special\":true}]," \
    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"<|begin_of_text|>\":3},\"merges\":[\"a b\"]}," \
    "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}"
#define TEMPLATE "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<|begin_of_text|>\"," \
    "\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"pair\":[],\"special_tokens\":{}}"

static void check(const char *json, int want_bos)
{
    Tokenizer *t = NULL;
    char err[256] = "";
    int32_t ids[8];

    CHECK_INT(tokenizer_load_hf_memory(json, strlen(json), &t, err, sizeof(err)), 0);
    if (!t) {
        fprintf(stderr, "load failed: %s\n", err);
        return;
    }
    CHECK_INT(tokenizer_bos(t), 3);
    CHECK_INT(tokenizer_add_bos_default(t), want_bos);
    int n = tokenizer_encode(t, "ab", 2, tokenizer_add_bos_default(t), 0, ids, 8);
    CHECK_INT(n, want_bos ? 2 : 1);
    if (n == 2) {
        CHECK_INT(ids[0], 3);
        CHECK_INT(ids[1], 2);
    } else if (n == 1) {
        CHECK_INT(ids[0], 2);
    }
    tokenizer_free(t);
}

int main(void)
{
    /* Llama 3: Sequence [ByteLevel, TemplateProcessing] */
    check(HEAD ",\"post_processor\":{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\","
               "\"add_prefix_space\":true,\"trim_offsets\":false,\"use_regex\":true}," TEMPLATE "]}}", 1);
    /* TemplateProcessing at the top level */
    check(HEAD ",\"post_processor\":" TEMPLATE "}", 1);
    /* a Sequence without a template, no post-processor, a template that starts with the text */
    check(HEAD ",\"post_processor\":{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\"}]}}", 0);
    check(HEAD "}", 0);
    check(HEAD ",\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"Sequence\":{\"id\":\"A\"}}]}}", 0);
    return test_exit();
}
