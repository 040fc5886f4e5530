/* chat.h — chat templates as fixed C formatters for the three families Myna supports (no Jinja engine).
 *
 * chat_detect() recognises a model's Jinja template (GGUF tokenizer.chat_template) by its markers;
 * chat_format() renders a conversation the way that template does. The output contains special-token
 * strings ("<|im_start|>", "<|begin_of_text|>", "<s>") and must be tokenized with allow_special = 1 and
 * add_bos = 0 (the BOS text is part of the output where the template puts it).
 *   LLAMA3: "<|begin_of_text|>" once, then per message
 *           "<|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|>";
 *           generation prompt "<|start_header_id|>assistant<|end_header_id|>\n\n" (SPEC.md §3.3;
 *           Meta's Llama 3 Instruct template, without 3.1's date preamble).
 *   CHATML: SmolLM2's template: "<|im_start|>{role}\n{content}<|im_end|>\n" per message (content not
 *           trimmed); when the first message is not a system message, the default system turn
 *           "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
 *           comes first; generation prompt "<|im_start|>assistant\n".
 *   LLAMA2: HF Llama-2-chat template: an optional leading system message is folded into the first user
 *           turn as "<<SYS>>\n{system}\n<</SYS>>\n\n"; user: "<s>[INST] {content, trimmed} [/INST]";
 *           assistant: " {content, trimmed} </s>"; the generation prompt is empty.
 *   NONE:   contents concatenated, each followed by "\n" (base models); no generation prompt.
 * Not here: tokenization (tokenizer.h), history/KV bookkeeping (lm sessions).
 * Reference: the Jinja templates rendered by tools/ref/tokenizer_ref.py (jinja2), goldens in
 * tests/fixtures/tokenizer/chat-*.txt.
 */
#ifndef MYNA_CHAT_H
#define MYNA_CHAT_H

#include <stddef.h>

typedef enum {
    CHAT_INVALID = -1, /* chat_family_from_name() of an unknown name */
    CHAT_NONE = 0,
    CHAT_LLAMA3 = 1,
    CHAT_CHATML = 2,
    CHAT_LLAMA2 = 3,
} ChatFamily;

typedef struct {
    const char *role;    /* "system" | "user" | "assistant" (LLAMA3 also "ipython") */
    const char *content; /* UTF-8, NUL-terminated */
} ChatMessage;

/* Family of a Jinja chat template by its markers (<|start_header_id|> -> LLAMA3, <|im_start|> -> CHATML,
 * [INST] -> LLAMA2); NULL or unrecognised -> CHAT_NONE. */
ChatFamily chat_detect(const char *jinja_template);
/* "llama3" | "chatml" | "llama2" | "none" -> family; anything else (or NULL) -> CHAT_INVALID. */
ChatFamily chat_family_from_name(const char *name);
/* "llama3", "chatml", "llama2", "none" (also for CHAT_INVALID: "invalid"). */
const char *chat_family_name(ChatFamily f);

/* Render msgs[0..n) (+ the generation prompt when add_generation_prompt). Writes a NUL-terminated
 * string when cap > 0 and returns the full length (may be >= cap, like snprintf: call again with a
 * larger buffer). Errors: -EINVAL (bad family, NULL message field, n < 0, or a role the family does not
 * know), -E2BIG (output above INT_MAX). */
int chat_format(ChatFamily f, const ChatMessage *msgs, int n, int add_generation_prompt, char *out,
                size_t cap);
/* Incremental form for sessions: the text that msgs[n_old..n) add after chat_format(f, msgs, n_old, 0)
 * (for every family chat_format(msgs, n_old, 0) is a prefix of chat_format(msgs, n, ...)). The generation
 * prompt is appended when add_generation_prompt. Same return convention. */
int chat_format_delta(ChatFamily f, const ChatMessage *msgs, int n_old, int n, int add_generation_prompt,
                      char *out, size_t cap);
/* The generation prompt alone ("" for LLAMA2 and NONE). */
const char *chat_generation_prompt(ChatFamily f);

/* Texts of the tokens that end an assistant turn for the family (look them up with
 * tokenizer_find_token and mark them with tokenizer_set_eog): LLAMA3 "<|eot_id|>", "<|eom_id|>",
 * "<|end_of_text|>"; CHATML "<|im_end|>", "<|endoftext|>"; LLAMA2 "</s>"; NONE none.
 * Returns a NULL-terminated static array; *ret_n (may be NULL) receives the count. */
const char *const *chat_end_tokens(ChatFamily f, int *ret_n);

#endif
