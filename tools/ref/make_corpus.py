#!/usr/bin/env python3
"""make_corpus.py — write tests/fixtures/tokenizer/corpus.txt, the tokenizer test corpus (>= 2,000 lines).

Deterministic (fixed seed). Lines are separated by "\\n" only; a line may end in "\\r" (CRLF text) and may
hold tabs, runs of spaces, other scripts, emoji with ZWJ sequences, combining marks, numbers of every
length, code, contractions in mixed case and special-token lookalikes ("<|im_start|>", "<|im_end").
Usage: python3 tools/ref/make_corpus.py [out_path]
"""
import random
import sys

SEED_LINES = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "  leading spaces and trailing spaces   ",
    "multiple    internal     spaces",
    "tabs\tbetween\twords\t\tand double tabs",
    "Windows line ending\r",
    "I'm sure they'll say it's fine, don't you think? We've seen it; you'd agree.",
    "I'M SURE THEY'LL SAY IT'S FINE, DON'T YOU THINK? WE'VE SEEN IT; YOU'D AGREE.",
    "i'M sUrE tHeY'lL sAy It'S fInE, dOn'T yOu ThInK?",
    "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D",
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 fa\u00e7ade \u00c5ngstr\u00f6m",
    "e\u0301 combining acute, a\u0308 o\u0308 u\u0308, n\u0303, Z\u0335\u0321a\u0337l\u0336g\u0334o\u0338",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u8fd9\u662f\u4e00\u4e2a\u6d4b\u8bd5\u3002",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u30ab\u30bf\u30ab\u30ca \u30fc",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8\uc785\ub2c8\ub2e4",
    "\u0420\u043e\u0441\u0441\u0438\u044f \u0438 \u0423\u043a\u0440\u0430\u0457\u043d\u0430, \u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645\u060c \u0643\u064a\u0641 \u062d\u0627\u0644\u0643\u061f",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e, \u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e",
    "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5, \u03b1\u03b2\u03b3\u03b4\u03b5 \u03a9\u03c9",
    "Emoji: \U0001F600\U0001F44D\U0001F3FD\U0001F1FA\U0001F1F8 and \u2764\ufe0f",
    "Family: \U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466 rainbow flag \U0001F3F3\ufe0f\u200d\U0001F308",
    "Numbers 12345 and 3.14159 and 1,000,000 and 007",
    "Punctuation!!! ??? ... --- (parens) [brackets] {braces} <angles>",
    "<|im_start|>user\nHello<|im_end|>",
    "<|im_start|>assistant",
    "partial <|im_end and <|im_sta and <| and |> and <|endoftext|>",
    "<|endoftext|><|im_start|><|im_end|>",
    "<repo_name>myna<file_sep>main.c<filename>x.py",
    "def foo(x):\n    return x ** 2  ",
    "    return x ** 2",
    "int main(void) { printf(\"%d\\n\", 42); return 0; }",
    "for (let i = 0; i < n; i++) { sum += a[i] * b[i]; }",
    "fn main() { let v: Vec<u8> = vec![1, 2, 3]; println!(\"{:?}\", v); }",
    "SELECT id, name FROM users WHERE age >= 21 ORDER BY name DESC;",
    "if [ -f \"$HOME/.bashrc\" ]; then . \"$HOME/.bashrc\"; fi",
    "x = {'a': 1, \"b\": [2, 3], 'c': None}  # comment",
    "https://example.com/path?query=1&other=two#frag",
    "user.name+tag@example.co.uk",
    "\u00a0non-breaking\u00a0space and\u2009thin space and\u3000ideographic space",
    "zero\u200bwidth\u200cjoiners\u200dhere",
    "\u2028line separator\u2029paragraph separator",
    "\u0085next line char",
    "",
    " ",
    "\t",
    "   \t  \t ",
    "a",
    "A",
    "$100.00 \u20ac50 \u00a330 \u00a51000 \u20b9200",
    "\u00bd \u00bc \u00be \u2153 \u2460 \u2461 \u2162 \u216b",
    "\u0661\u0662\u0663 \u0967\u0968\u0969 \uff11\uff12\uff13",
    "math: \u2200x\u2208\u211d, x\u00b2 \u2265 0; \u2211\u1d62 a\u1d62 \u2260 \u222b f(x) dx",
    "\u00abquotes\u00bb \u201cdouble\u201d \u2018single\u2019 \u201elow\u201c",
    "ALLCAPS lowercase MixedCase camelCase snake_case kebab-case",
    "hello\r\nworld\r",
    "\r",
    "trailing tab\t",
    "....",
    "!!!???",
    "a\u0300\u0301\u0302\u0303\u0304\u0305",
    "\U0001F44B\U0001F3FB\U0001F44B\U0001F3FC\U0001F44B\U0001F3FD\U0001F44B\U0001F3FE\U0001F44B\U0001F3FF",
    "\U0001F9D1\u200d\U0001F4BB codes, \U0001F469\u200d\U0001F52C researches",
    "Ol\u00e1, como voc\u00ea est\u00e1? \u00bfQu\u00e9 tal? \u00a1Bien!",
    "Stra\u00dfe \u00fcber \u00c4rger \u00d6l \u00df\u1e9e",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "Vi\u1ec7t Nam xin ch\u00e0o",
]

WORDS = ("the of and to in is you that it he was for on are as with his they I at be this have from or one had "
         "by word but not what all were we when your can said there use an each which she do how their if will up "
         "other about out many then them these so some her would make like him into time has look two more write "
         "go see number no way could people my than first water been call who oil its now find long down day did "
         "get come made may part tokenizer transformer attention kernel quantization llama inference daemon").split()
FOREIGN = ["\u4e2d\u6587", "\u6f22\u5b57", "\u304b\u306a", "\u0440\u0443\u0441\u0441\u043a\u0438\u0439",
           "\u0627\u0644\u0639\u0631\u0628\u064a\u0629", "\u0939\u093f\u0928\u094d\u0926\u0940",
           "\u03b5\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac", "\ud55c\uad6d\uc5b4", "\u00e9t\u00e9",
           "\U0001F600", "\U0001F680", "\U0001F468\u200d\U0001F4BB", "\u2764\ufe0f", "na\u00efve"]
PUNCT = [",", ".", "!", "?", ";", ":", "...", " -", "(", ")", "\"", "'", "--", "/", "\\", "#", "@", "&", "*"]
CONTRACT = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D", "'Ll", "'rE"]
SPECIAL = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_end", "<|im_start", "|>", "<jupyter_code>",
           "<|eot_id|>", "<s>", "</s>", "[INST]"]
SPACES = [" ", "  ", "   ", "\t", " \t ", "    ", "\u00a0", "\u3000"]
CODE = [
    "    if (n < 0) {{ return -EINVAL; }} // {w}",
    "def {w}(x, y=2):\n        return x * y + {n}",
    "const {w} = async () => {{ await fetch('/api/{w}?id={n}'); }};",
    "#include <{w}.h>  /* {n} */",
    "SELECT * FROM {w} WHERE id = {n};",
    "let mut {w}: u32 = {n}; {w} += 1;",
    "{w}_{w}[{n}] = 0x{h}; \t// hex",
    "<div class=\"{w}\">{n}</div>",
    "{{\"{w}\": {n}, \"ok\": true, \"list\": [1, 2, 3]}}",
    "$ ./{w} --count={n} --verbose 2>&1 | grep -i error",
]


def number(rng):
    k = rng.choice([1, 1, 2, 3, 4, 5, 6, 7, 9, 12, 16, 20, 30])
    s = "".join(rng.choice("0123456789") for _ in range(k))
    r = rng.random()
    if r < 0.1:
        s = s + "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 6)))
    elif r < 0.15:
        s = "-" + s
    elif r < 0.2:
        s = "{:,}".format(int(s))
    return s


def prose(rng):
    out = []
    for _ in range(rng.randint(3, 25)):
        r = rng.random()
        if r < 0.62:
            w = rng.choice(WORDS)
            if rng.random() < 0.12:
                w = w.capitalize()
            if rng.random() < 0.03:
                w = w.upper()
            out.append(w)
        elif r < 0.72:
            out.append(number(rng))
        elif r < 0.8:
            out.append(rng.choice(FOREIGN))
        elif r < 0.88:
            out[-1:] = [(out[-1] if out else "") + rng.choice(PUNCT)]
        elif r < 0.93:
            out[-1:] = [(out[-1] if out else "x") + rng.choice(CONTRACT)]
        elif r < 0.96:
            out.append(rng.choice(SPECIAL))
        else:
            out.append(rng.choice(SPACES).strip(" ") or "  ")
    sep = " "
    s = sep.join(out)
    if rng.random() < 0.08:
        s = rng.choice(SPACES) + s
    if rng.random() < 0.08:
        s = s + rng.choice(SPACES)
    if rng.random() < 0.05:
        s = s + "\r"
    return s


def code(rng):
    t = rng.choice(CODE)
    s = t.format(w=rng.choice(WORDS), n=number(rng), h="%x" % rng.randrange(1 << 32))
    return s.replace("\n", " ")


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/tokenizer/corpus.txt"
    rng = random.Random(20240601)
    lines = [l.replace("\n", "\\n") for l in SEED_LINES]
    for k in range(1, 41):  # numbers of all lengths
        lines.append("".join(str((i * 7 + k) % 10) for i in range(k)))
        lines.append(" " + "9" * k + " apples")
    for _ in range(2100 - len(lines)):
        r = rng.random()
        lines.append(code(rng) if r < 0.25 else prose(rng))
    lines.append("x" * 3000)  # a long word: BPE must not go quadratic
    lines.append("\U0001F600" * 300)
    for l in lines:
        assert "\n" not in l
    with open(out_path, "w", encoding="utf-8", newline="") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %d lines to %s" % (len(lines), out_path))


if __name__ == "__main__":
    main()
