#!/usr/bin/env python3
"""tokenizer_ref.py — reference outputs for the C tokenizer and chat formatter (tests/fixtures/tokenizer/).

Independent reference: the HF `tokenizers` library (Rust) and `jinja2`. Writes:
  smollm2.ids          ids of every corpus line, SmolLM2 vocabulary, special tokens NOT parsed
  smollm2-special.ids  same with special tokens parsed (allow_special)
  llama3-pretok.txt    byte END offsets of Split(Regex(<Llama 3 pattern>), "isolated") pieces per line
  spm-tiny.json / .ids a small SentencePiece-style tokenizer.json (BPE + byte_fallback, Prepend/Replace "▁")
                       trained here on the corpus, and its ids per line
  bpe-tiny.json / .ids a small byte-level BPE tokenizer.json with SmolLM2's pre-tokenizer and special
                       tokens (also the fuzz target's vocabulary), and its ids per line (specials parsed)
  chat.json            conversations rendered by jinja2 with SmolLM2's own template (from the GGUF), Meta's
                       Llama 3 Instruct template and the HF Llama-2-chat template (written out below)

SmolLM2's tokenizer is rebuilt from the GGUF's vocabulary and merges with the pre-tokenizer and decoder of
SmolLM2's published tokenizer.json: Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False,
use_regex=True)], ByteLevel decoder, the 17 control tokens as special added tokens. llama.cpp's "smollm"
pre-type runs the same two steps ("\\p{N}", then the GPT-2 expression).

Usage: python3 tools/ref/tokenizer_ref.py <SmolLM2-135M-Instruct.Q4_1.gguf> [fixtures_dir]
"""
import json
import os
import sys

import gguf
import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

LLAMA3_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
             r"|\s*[\r\n]+|\s+(?!\S)|\s+")

LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}"
    "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")

LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}")


def read_corpus(path):
    with open(path, "rb") as f:
        data = f.read().decode("utf-8")
    lines = data.split("\n")
    assert lines[-1] == ""
    return lines[:-1]


def field_strings(r, key):
    f = r.fields[key]
    return [bytes(f.parts[i]).decode("utf-8") for i in f.data]


def field_scalar(r, key):
    f = r.fields[key]
    return f.parts[f.data[0]][0]


def smollm2_tokenizer(gguf_path):
    r = gguf.GGUFReader(gguf_path)
    tokens = field_strings(r, "tokenizer.ggml.tokens")
    merges = field_strings(r, "tokenizer.ggml.merges")
    types = [int(r.fields["tokenizer.ggml.token_type"].parts[i][0]) for i in r.fields["tokenizer.ggml.token_type"].data]
    assert bytes(r.fields["tokenizer.ggml.pre"].parts[-1]).decode() == "smollm"
    template = bytes(r.fields["tokenizer.chat_template"].parts[-1]).decode()
    vocab = {t: i for i, t in enumerate(tokens)}
    bpe = models.BPE(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges], ignore_merges=False)
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False)
                            for i in range(len(tokens)) if types[i] == 3])
    return tok, template


def encode_lines(tok, lines, special):
    tok.encode_special_tokens = not special
    return [tok.encode(l, add_special_tokens=False).ids for l in lines]


def write_ids(path, rows):
    with open(path, "w") as f:
        for ids in rows:
            f.write(" ".join(str(i) for i in ids) + "\n")


def llama3_pretok(lines):
    split = pre_tokenizers.Split(Regex(LLAMA3_RE), "isolated")
    rows = []
    for l in lines:
        ends = [len(l[:e].encode("utf-8")) for _, (_, e) in split.pre_tokenize_str(l)]
        rows.append(ends)
    return rows


def spm_tiny(lines):
    """A Llama-2-like tokenizer.json: <unk> <s> </s>, 256 byte tokens, then trained BPE pieces."""
    t = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    t.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    trainer = trainers.BpeTrainer(vocab_size=700, min_frequency=2, show_progress=False,
                                  special_tokens=["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)],
                                  limit_alphabet=120)
    t.train_from_iterator(lines[:1200], trainer)
    js = json.loads(t.to_str())
    js["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    # byte tokens are ordinary vocabulary entries in Llama's tokenizer.json, not added tokens
    js["added_tokens"] = [a for a in js["added_tokens"] if a["content"] in ("<unk>", "<s>", "</s>")]
    return js


def bpe_tiny(lines):
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                               pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    t.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1200, min_frequency=2, show_progress=False,
                                  special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    t.train_from_iterator(lines[:1500], trainer)
    return json.loads(t.to_str())


CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}],
    [{"role": "user", "content": "  Tell me a joke.  "}, {"role": "assistant", "content": " Why did the chicken...\n"},
     {"role": "user", "content": "Go on."}],
    [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Hello! How can I help?"}, {"role": "user", "content": "Weather in Z\u00fcrich? \u2603"}],
    [{"role": "user", "content": "Multi\nline\n\ncontent\twith tabs"}],
    [{"role": "user", "content": ""}],
]


def render(template, messages, add_gen, bos, eos):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(messages=messages, add_generation_prompt=add_gen,
                                            bos_token=bos, eos_token=eos)


def main():
    gguf_path = sys.argv[1]
    fx = sys.argv[2] if len(sys.argv) > 2 else "tests/fixtures/tokenizer"
    lines = read_corpus(os.path.join(fx, "corpus.txt"))
    tok, smol_template = smollm2_tokenizer(gguf_path)
    write_ids(os.path.join(fx, "smollm2.ids"), encode_lines(tok, lines, False))
    write_ids(os.path.join(fx, "smollm2-special.ids"), encode_lines(tok, lines, True))
    # round trip of the reference itself (sanity: byte-level BPE is lossless)
    for l, ids in zip(lines, encode_lines(tok, lines, False)):
        assert tok.decode(ids, skip_special_tokens=False) == l, repr(l)
    write_ids(os.path.join(fx, "llama3-pretok.txt"), llama3_pretok(lines))

    js = spm_tiny(lines)
    with open(os.path.join(fx, "spm-tiny.json"), "w", encoding="utf-8") as f:
        json.dump(js, f, ensure_ascii=False)
    spm = Tokenizer.from_str(json.dumps(js))
    write_ids(os.path.join(fx, "spm-tiny.ids"), [spm.encode(l, add_special_tokens=False).ids for l in lines])

    js = bpe_tiny(lines)
    with open(os.path.join(fx, "bpe-tiny.json"), "w", encoding="utf-8") as f:
        json.dump(js, f, ensure_ascii=False)
    bt = Tokenizer.from_str(json.dumps(js))
    write_ids(os.path.join(fx, "bpe-tiny.ids"), [bt.encode(l, add_special_tokens=False).ids for l in lines])

    cases = []
    for fam, tpl, bos, eos in (("chatml", smol_template, "<|im_start|>", "<|im_end|>"),
                               ("llama3", LLAMA3_TEMPLATE, "<|begin_of_text|>", "<|eot_id|>"),
                               ("llama2", LLAMA2_TEMPLATE, "<s>", "</s>")):
        for conv in CONVERSATIONS:
            for add_gen in (False, True):
                cases.append({"family": fam, "messages": conv, "add_generation_prompt": add_gen,
                              "expected": render(tpl, conv, add_gen, bos, eos)})
    with open(os.path.join(fx, "chat.json"), "w", encoding="utf-8") as f:
        json.dump({"smollm2_template": smol_template, "cases": cases}, f, ensure_ascii=False, indent=1)
    print("wrote fixtures for %d corpus lines, %d chat cases into %s" % (len(lines), len(cases), fx))


if __name__ == "__main__":
    main()
