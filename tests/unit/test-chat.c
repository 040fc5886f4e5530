/* test-chat.c — chat_format() for ChatML (SmolLM2), Llama 3 and Llama 2 against the Jinja renderings in
 * tests/fixtures/tokenizer/chat.json (tools/ref/tokenizer_ref.py, jinja2 with HF's sandbox settings), plus
 * chat_detect on SmolLM2's real template, the incremental form and the buffer contract. Exact equality. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "test-util.h"

int main(void)
{
    char path[4096];
    test_fixture_path(path, sizeof(path), "tokenizer", "chat.json");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    CHECK(root != NULL);
    if (!root) {
        fprintf(stderr, "%s: %s\n", path, jerr.text);
        return test_exit();
    }
    const char *smol = json_string_value(json_object_get(root, "smollm2_template"));
    CHECK(smol != NULL);
    CHECK_INT(chat_detect(smol), CHAT_CHATML);
    CHECK_INT(chat_detect("{{ bos_token }}{% for m in messages %}<|start_header_id|>{% endfor %}"), CHAT_LLAMA3);
    CHECK_INT(chat_detect("{{ '[INST] ' + x }}"), CHAT_LLAMA2);
    CHECK_INT(chat_detect("{{ messages }}"), CHAT_NONE);
    CHECK_INT(chat_detect(NULL), CHAT_NONE);
    CHECK_INT(chat_family_from_name("llama3"), CHAT_LLAMA3);
    CHECK_INT(chat_family_from_name("chatml"), CHAT_CHATML);
    CHECK_INT(chat_family_from_name("llama2"), CHAT_LLAMA2);
    CHECK_INT(chat_family_from_name("none"), CHAT_NONE);
    CHECK_INT(chat_family_from_name("vicuna"), CHAT_INVALID);
    CHECK(strcmp(chat_family_name(CHAT_CHATML), "chatml") == 0);
    int n_end;
    const char *const *ends = chat_end_tokens(CHAT_LLAMA3, &n_end);
    CHECK_INT(n_end, 3);
    CHECK(strcmp(ends[0], "<|eot_id|>") == 0 && ends[3] == NULL);
    CHECK(strcmp(chat_end_tokens(CHAT_CHATML, NULL)[0], "<|im_end|>") == 0);

    const json_t *cases = json_object_get(root, "cases");
    CHECK(json_array_size(cases) >= 30);
    static char out[1 << 14], delta[1 << 14];
    for (size_t c = 0; c < json_array_size(cases); c++) {
        const json_t *k = json_array_get(cases, c), *msgs = json_object_get(k, "messages");
        ChatFamily f = chat_family_from_name(json_string_value(json_object_get(k, "family")));
        int gen = json_is_true(json_object_get(k, "add_generation_prompt"));
        const char *want = json_string_value(json_object_get(k, "expected"));
        ChatMessage m[16];
        int n = (int)json_array_size(msgs);
        for (int i = 0; i < n && i < 16; i++) {
            m[i].role = json_string_value(json_object_get(json_array_get(msgs, i), "role"));
            m[i].content = json_string_value(json_object_get(json_array_get(msgs, i), "content"));
        }
        int len = chat_format(f, m, n, gen, out, sizeof(out));
        CHECK_INT(len, strlen(want));
        if (strcmp(out, want) != 0) {
            fprintf(stderr, "case %zu (%s): got\n---\n%s\n---\nexpected\n---\n%s\n---\n", c, chat_family_name(f), out, want);
            CHECK(0);
        }
        /* incremental: format(n-1) + delta(n-1, n) == format(n) */
        int l0 = chat_format(f, m, n - 1, 0, delta, sizeof(delta));
        CHECK(l0 >= 0 && strncmp(out, delta, (size_t)l0) == 0);
        int l1 = chat_format_delta(f, m, n - 1, n, gen, delta, sizeof(delta));
        CHECK_INT(l0 + l1, len);
        CHECK(l0 >= 0 && l1 >= 0 && strcmp(out + l0, delta) == 0);
        /* snprintf contract: the full length is returned with a short buffer, output truncated */
        char small[8];
        CHECK_INT(chat_format(f, m, n, gen, small, sizeof(small)), len);
        CHECK_INT(strlen(small), len < 7 ? len : 7);
        CHECK_INT(chat_format(f, m, n, gen, NULL, 0), len);
    }
    ChatMessage bad[1] = { { "wizard", "x" } };
    CHECK_INT(chat_format(CHAT_LLAMA3, bad, 1, 1, out, sizeof(out)), -EINVAL);
    CHECK_INT(chat_format(CHAT_INVALID, bad, 1, 1, out, sizeof(out)), -EINVAL);
    ChatMessage nul[1] = { { "user", NULL } };
    CHECK_INT(chat_format(CHAT_CHATML, nul, 1, 1, out, sizeof(out)), -EINVAL);
    json_decref(root);
    return test_exit();
}
