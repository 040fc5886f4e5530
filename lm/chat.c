/* chat.c — the three chat formats of chat.h written as plain C string building.
 *
 * Not a Jinja engine: each family's template is reproduced by hand and checked against the real templates
 * rendered with jinja2 (tools/ref/tokenizer_ref.py -> tests/fixtures/tokenizer/chat-*.txt).
 * References: SmolLM2-135M-Instruct GGUF tokenizer.chat_template (ChatML with a default system turn);
 * Meta Llama 3 Instruct template (SPEC.md §3.3; contents trimmed like Jinja's |trim); HF Llama-2-chat
 * template (system folded into the first user turn, contents .strip()'d).
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "chat.h"

#define SMOLLM_DEFAULT_SYSTEM "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

typedef struct {
    char *out;
    size_t cap, n;
} Buf;

static void put(Buf *b, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (b->n + 1 < b->cap)
            b->out[b->n] = s[i];
        b->n++;
    }
}

static void puts_(Buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* Python str.strip() / Jinja trim over ASCII whitespace (the Unicode spaces Python also strips are rare
 * in prompts; documented difference). */
static void put_trimmed(Buf *b, const char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')))
        i++;
    while (n > i && (s[n - 1] == ' ' || (s[n - 1] >= '\t' && s[n - 1] <= '\r')))
        n--;
    put(b, s + i, n - i);
}

ChatFamily chat_detect(const char *tpl)
{
    if (!tpl)
        return CHAT_NONE;
    if (strstr(tpl, "<|start_header_id|>"))
        return CHAT_LLAMA3;
    if (strstr(tpl, "<|im_start|>"))
        return CHAT_CHATML;
    if (strstr(tpl, "[INST]"))
        return CHAT_LLAMA2;
    return CHAT_NONE;
}

ChatFamily chat_family_from_name(const char *name)
{
    if (!name)
        return CHAT_INVALID;
    if (strcmp(name, "llama3") == 0)
        return CHAT_LLAMA3;
    if (strcmp(name, "chatml") == 0)
        return CHAT_CHATML;
    if (strcmp(name, "llama2") == 0)
        return CHAT_LLAMA2;
    if (strcmp(name, "none") == 0)
        return CHAT_NONE;
    return CHAT_INVALID;
}

const char *chat_family_name(ChatFamily f)
{
    switch (f) {
    case CHAT_LLAMA3: return "llama3";
    case CHAT_CHATML: return "chatml";
    case CHAT_LLAMA2: return "llama2";
    case CHAT_NONE: return "none";
    default: return "invalid";
    }
}

const char *chat_generation_prompt(ChatFamily f)
{
    switch (f) {
    case CHAT_LLAMA3: return "<|start_header_id|>assistant<|end_header_id|>\n\n";
    case CHAT_CHATML: return "<|im_start|>assistant\n";
    default: return "";
    }
}

const char *const *chat_end_tokens(ChatFamily f, int *ret_n)
{
    static const char *const l3[] = { "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", NULL };
    static const char *const cm[] = { "<|im_end|>", "<|endoftext|>", NULL };
    static const char *const l2[] = { "</s>", NULL };
    static const char *const none[] = { NULL };
    const char *const *v = f == CHAT_LLAMA3 ? l3 : f == CHAT_CHATML ? cm : f == CHAT_LLAMA2 ? l2 : none;
    if (ret_n) {
        int n = 0;
        while (v[n])
            n++;
        *ret_n = n;
    }
    return v;
}

static int role_ok(ChatFamily f, const char *role)
{
    if (strcmp(role, "system") == 0 || strcmp(role, "user") == 0 || strcmp(role, "assistant") == 0)
        return 1;
    if (f == CHAT_LLAMA3 && strcmp(role, "ipython") == 0)
        return 1;
    return f == CHAT_CHATML || f == CHAT_NONE; /* ChatML writes any role name as is */
}

/* Render message i of msgs (context needed for the first-message rules). */
static void render_one(ChatFamily f, const ChatMessage *msgs, int i, Buf *b)
{
    const ChatMessage *m = &msgs[i];
    switch (f) {
    case CHAT_LLAMA3:
        if (i == 0)
            puts_(b, "<|begin_of_text|>");
        puts_(b, "<|start_header_id|>");
        puts_(b, m->role);
        puts_(b, "<|end_header_id|>\n\n");
        put_trimmed(b, m->content);
        puts_(b, "<|eot_id|>");
        break;
    case CHAT_CHATML:
        if (i == 0 && strcmp(m->role, "system") != 0)
            puts_(b, "<|im_start|>system\n" SMOLLM_DEFAULT_SYSTEM "<|im_end|>\n");
        puts_(b, "<|im_start|>");
        puts_(b, m->role);
        puts_(b, "\n");
        puts_(b, m->content);
        puts_(b, "<|im_end|>\n");
        break;
    case CHAT_LLAMA2: {
        int has_sys = strcmp(msgs[0].role, "system") == 0;
        if (has_sys && i == 0)
            break; /* folded into the first user turn */
        if (strcmp(m->role, "user") == 0) {
            puts_(b, "<s>[INST] ");
            if (has_sys && i == 1) {
                /* Jinja: ('<<SYS>>\n' + system + '\n<</SYS>>\n\n' + content).strip(): the text starts
                 * with '<', so only the end is stripped, reaching into the system block for an empty
                 * content */
                size_t n = strlen(m->content);
                while (n > 0 && (m->content[n - 1] == ' ' || (m->content[n - 1] >= '\t' && m->content[n - 1] <= '\r')))
                    n--;
                puts_(b, "<<SYS>>\n");
                puts_(b, msgs[0].content);
                puts_(b, n ? "\n<</SYS>>\n\n" : "\n<</SYS>>");
                put(b, m->content, n);
            } else {
                put_trimmed(b, m->content);
            }
            puts_(b, " [/INST]");
        } else if (strcmp(m->role, "assistant") == 0) {
            puts_(b, " ");
            put_trimmed(b, m->content);
            puts_(b, " </s>");
        }
        /* a later system message is ignored by the template */
        break;
    }
    default:
        puts_(b, m->content);
        puts_(b, "\n");
        break;
    }
}

int chat_format_delta(ChatFamily f, const ChatMessage *msgs, int n_old, int n, int add_generation_prompt,
                      char *out, size_t cap)
{
    if (f != CHAT_NONE && f != CHAT_LLAMA3 && f != CHAT_CHATML && f != CHAT_LLAMA2)
        return -EINVAL;
    if (n < 0 || n_old < 0 || n_old > n || (n > 0 && !msgs) || (cap && !out))
        return -EINVAL;
    for (int i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content || !role_ok(f, msgs[i].role))
            return -EINVAL;
    Buf b = { out, cap, 0 };
    for (int i = n_old; i < n; i++)
        render_one(f, msgs, i, &b);
    if (add_generation_prompt)
        puts_(&b, chat_generation_prompt(f));
    if (cap)
        out[b.n < cap ? b.n : cap - 1] = '\0';
    if (b.n > INT_MAX)
        return -E2BIG;
    return (int)b.n;
}

int chat_format(ChatFamily f, const ChatMessage *msgs, int n, int add_generation_prompt, char *out, size_t cap)
{
    return chat_format_delta(f, msgs, 0, n, add_generation_prompt, out, cap);
}
