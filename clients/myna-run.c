/* myna-run — run a language model locally, without the daemon: one prompt, a chat REPL, token dumps and
 * prompt logits for tests and benchmarks; with a Llama 3.2 Vision folder also images (--image) and video
 * frames (--video), attached at <|image|> tags in the user turn (adapters/model.h); with --audio the file is
 * transcribed by Whisper (speech/whisper.h) and the transcript becomes the user's text for the text LM. Text streams to stdout as
 * it is produced; timings go to stderr (or one JSON object with --json). Not a server and not the user
 * client (that is `myna`, over D-Bus).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "audio.h"
#include "backend.h"
#include "config.h" /* HAVE_FFMPEG */
#include "lm.h"
#include "log.h"
#include "media.h"
#include "model.h"
#include "paths.h"
#include "whisper.h"
#if HAVE_ESPEAK
#include "vits-say.h"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: myna-run [options]\n"
            "  -m, --model FILE|DIR   GGUF file or HF folder (default: the installed SmolLM2-135M-Instruct)\n"
            "  -p, --prompt TEXT      prompt (with --chat: the user message; without -p --chat reads stdin)\n"
            "      --chat             apply the model's chat template (interactive when no -p)\n"
            "      --system TEXT      system message for --chat\n"
            "  -n, --n-predict N      tokens to generate (default 256; 0 = prefill only)\n"
            "      --temp T           temperature (default 0 = greedy)\n"
            "      --top-k K          (default 40)\n"
            "      --top-p P          (default 0.95)\n"
            "      --min-p P          (default 0.05)\n"
            "      --repeat-penalty R (default 1 = off)\n"
            "      --seed N           sampling seed (default 0 = from the clock)\n"
            "  -t, --threads N        CPU threads (default: all)\n"
            "      --backend SPEC     cpu | cuda[:N] | auto (default cpu)\n"
            "      --ctx N            context length (default min(model, 4096))\n"
            "      --kv-f32           F32 KV cache (default F16)\n"
            "      --mmap             map the GGUF file instead of reading it into memory on 2 MiB pages\n"
            "                         (loads lazily, shares the page cache; decode ~15 %% slower here)\n"
            "      --print-tokens     print prompt and output token ids\n"
            "      --logits FILE      write F32 logits of every prompt position (T x V, little-endian)\n"
            "      --json             print one JSON object with counts, speeds and peak RSS at the end\n"
            "      --image FILE       attach an image (repeatable; needs a Llama 3.2 Vision folder); one\n"
            "                         <|image|> tag per image goes before the text unless -p places them\n"
            "      --video FILE       attach N frames sampled over a video (see --frames)\n"
            "      --frames N         frames per video (default 8, at most 16)\n"
            "      --audio FILE       speech input: Whisper transcribes FILE (any format FFmpeg decodes) and the\n"
            "                         transcript is the user's text for the text LM (after -p TEXT and a blank\n"
            "                         line when -p is given); LLaMA-Omni's encoder-state path is not wired here\n"
            "      --whisper DIR      Whisper model (default: whisper-tiny.en in the models dir)\n"
            "      --say TEXT         speak TEXT with a Piper voice into -o FILE (16-bit WAV; '-' = stdout);\n"
            "                         no language model runs\n"
            "  -o, --output FILE      output of --say\n"
            "      --voice FILE       Piper voice .onnx (default: en_US-joe-medium in the models dir)\n"
            "      --length-scale X   speaking rate for --say (>1 slower; default: the voice's)\n"
            "  -h, --help\n");
}

/* Transcribe path with Whisper at whisper_dir on be; *ret malloc'd. err gets one line. */
static int transcribe_file(const char *path, const char *whisper_dir, Backend *be, char **ret, char *err,
                           size_t err_len)
{
#if HAVE_FFMPEG
    AudioPcm pcm;
    Whisper *w = NULL;
    WhisperOptions o;
    int fd = open(path, O_RDONLY | O_CLOEXEC), r;
    if (fd < 0)
        return err_set(err, err_len, -errno, "%s", strerror(errno));
    r = audio_decode_fd(fd, NULL, &pcm, err, err_len);
    close(fd);
    if (r < 0)
        return r;
    r = whisper_load(whisper_dir, be, &w, err, err_len);
    if (r < 0) {
        audio_pcm_free(&pcm);
        return r == -ENOENT ? err_set(err, err_len, r, "speech model %s not installed: run scripts/fetch-models",
                                      whisper_dir) : r;
    }
    whisper_options_default(&o);
    r = whisper_transcribe(w, pcm.samples, (size_t)pcm.n_samples, &o, ret, NULL);
    if (r < 0)
        err_set(err, err_len, r, "transcription failed: %s", strerror(-r));
    whisper_free(w);
    audio_pcm_free(&pcm);
    return r;
#else
    (void)path; (void)whisper_dir; (void)be; (void)ret;
    return err_set(err, err_len, -ENOTSUP, "built without FFmpeg: no audio decoding");
#endif
}

static int default_model(char *buf, size_t len)
{
    return paths_model_file("SmolLM2-135M-Instruct.Q4_1.gguf", buf, len);
}

typedef struct {
    int print_tokens;
    int32_t *out_ids;
    int n_out, cap_out;
} RunCtx;

static int on_token(void *user, const LmToken *tok)
{
    RunCtx *rc = user;

    fwrite(tok->text, 1, tok->len, stdout);
    fflush(stdout);
    if (rc->print_tokens) {
        if (rc->n_out == rc->cap_out) {
            int cap = rc->cap_out ? 2 * rc->cap_out : 256;
            int32_t *p = realloc(rc->out_ids, sizeof(*p) * (size_t)cap);
            if (!p)
                return 1;
            rc->out_ids = p;
            rc->cap_out = cap;
        }
        rc->out_ids[rc->n_out++] = tok->id;
    }
    return 0;
}

static void print_ids(const char *label, const int32_t *ids, int n)
{
    printf("%s:", label);
    for (int i = 0; i < n; i++)
        printf(" %d", ids[i]);
    printf("\n");
    fflush(stdout);
}

static int fail(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "myna-run: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n");
    return 1;
}

static int write_logits(const char *path, const float *lg, int rows, int V)
{
    FILE *f = fopen(path, "wb");
    size_t n = (size_t)rows * (size_t)V;

    if (!f)
        return -errno;
    if (fwrite(lg, sizeof(float), n, f) != n) {
        fclose(f);
        return -EIO;
    }
    return fclose(f) ? -errno : 0;
}

/* One turn: prefill (+ generate n tokens) with printing; accumulates totals. */
static int run_turn(LmSession *s, const LmSampling *sp, RunCtx *rc, int n_predict, const char *logits_path,
                    LmStats *tot, LmStop *ret_stop)
{
    LmStats st;
    int r;

    if (rc->print_tokens) {
        /* the pending ids become the prompt of this turn */
        int n_before = lm_session_n_past(s), n;
        if ((r = lm_session_prefill(s, &st)) < 0)
            return r;
        const int32_t *ids = lm_session_tokens(s, &n);
        print_ids("prompt_ids", ids + n_before, n - n_before);
    } else if ((r = lm_session_prefill(s, &st)) < 0) {
        return r;
    }
    tot->n_prompt += st.n_prompt;
    tot->prefill_ms += st.prefill_ms;
    if (logits_path) {
        int rows;
        const float *lg = lm_session_all_logits(s, &rows);
        if ((r = write_logits(logits_path, lg, rows, lm_model_info(lm_session_model(s))->n_vocab)) < 0)
            return r;
    }
    *ret_stop = LM_STOP_LENGTH;
    if (n_predict > 0) {
        /* the session has no pending tokens now, so generate only decodes */
        if ((r = lm_session_generate(s, sp, on_token, rc, NULL, ret_stop, &st)) < 0)
            return r;
        tot->n_generated += st.n_generated;
        tot->decode_ms += st.decode_ms;
    }
    if (rc->print_tokens) {
        printf("\n");
        print_ids("output_ids", rc->out_ids, rc->n_out);
        rc->n_out = 0;
    }
    return 0;
}

/* --say: text → WAV with a Piper voice, offline (speech/tts/vits-say.h). */
static int run_say(const char *text, const char *out, const char *voice_path, float length_scale,
                   const char *backend, int threads)
{
#if HAVE_ESPEAK
    char path[PATH_MAX], err[512] = "";
    Backend *be = NULL;
    Voice *voice = NULL;
    Vits *v = NULL;
    VitsWav wav = {0};
    VitsSayStats st;
    int r;
    if (!out)
        return fail("--say needs -o FILE%s%s", "", "");
    if (!voice_path) {
        if (paths_model_file("en_US-joe-medium.onnx", path, sizeof(path)) < 0)
            return fail("model path too long%s%s", "", "");
        voice_path = path;
    }
    if ((r = backend_new_by_name(backend, threads, &be, err, sizeof(err))) < 0)
        return fail("backend %s: %s", backend, err);
    if ((r = voice_load(be, voice_path, NULL, &voice, err, sizeof(err))) < 0 ||
        (r = vits_new(be, &voice->cfg, &voice->w, &v, err, sizeof(err))) < 0 ||
        (r = vits_wav_open(&wav, out, voice->cfg.sample_rate)) < 0) {
        if (!err[0])
            snprintf(err, sizeof(err), "%s: %s", out, strerror(-r));
        goto done;
    }
    VitsParams p = vits_params_default(&voice->cfg);
    if (length_scale > 0)
        p.length_scale = length_scale;
    r = vits_say(v, voice, text, &p, vits_wav_sink, &wav, &st, err, sizeof(err));
    const int rc = vits_wav_close(&wav, voice->cfg.sample_rate);
    r = r < 0 ? r : rc;
    if (r >= 0 && st.samples == 0)
        fprintf(stderr, "say: nothing to say in the text (an empty WAV was written)\n");
    else if (r >= 0)
        fprintf(stderr, "say: %d sentence%s, %.2f s of audio in %.2f s (first audio %.0f ms), %s\n", st.n_sentences,
                st.n_sentences == 1 ? "" : "s", (double)st.samples / voice->cfg.sample_rate, st.total_s,
                st.first_audio_s * 1e3, be->desc);
done:
    if (r < 0 && !err[0])
        snprintf(err, sizeof(err), "%s", strerror(-r));
    vits_wav_close(&wav, 0);
    vits_free(v);
    voice_free(voice);
    backend_free(be);
    return r < 0 ? fail("say: %s%s", err, "") : 0;
#else
    (void)text, (void)out, (void)voice_path, (void)length_scale, (void)backend, (void)threads;
    return fail("--say: this build has no espeak-ng (-Despeak)%s%s", "", "");
#endif
}

int main(int argc, char **argv)
{
    enum { O_CHAT = 256, O_SYSTEM, O_TEMP, O_TOPK, O_TOPP, O_MINP, O_REP, O_SEED, O_BACKEND, O_CTX, O_KVF32,
           O_PRINT, O_LOGITS, O_JSON, O_IMAGE, O_VIDEO, O_FRAMES, O_AUDIO, O_WHISPER, O_MMAP, O_SAY, O_VOICE,
           O_LSCALE };
    enum { MAX_MEDIA = 16 };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"prompt", required_argument, 0, 'p'},
        {"chat", no_argument, 0, O_CHAT}, {"system", required_argument, 0, O_SYSTEM},
        {"n-predict", required_argument, 0, 'n'}, {"temp", required_argument, 0, O_TEMP},
        {"top-k", required_argument, 0, O_TOPK}, {"top-p", required_argument, 0, O_TOPP},
        {"min-p", required_argument, 0, O_MINP}, {"repeat-penalty", required_argument, 0, O_REP},
        {"seed", required_argument, 0, O_SEED}, {"threads", required_argument, 0, 't'},
        {"backend", required_argument, 0, O_BACKEND}, {"ctx", required_argument, 0, O_CTX},
        {"kv-f32", no_argument, 0, O_KVF32}, {"print-tokens", no_argument, 0, O_PRINT},
        {"logits", required_argument, 0, O_LOGITS}, {"json", no_argument, 0, O_JSON},
        {"image", required_argument, 0, O_IMAGE}, {"video", required_argument, 0, O_VIDEO},
        {"frames", required_argument, 0, O_FRAMES}, {"audio", required_argument, 0, O_AUDIO},
        {"whisper", required_argument, 0, O_WHISPER}, {"mmap", no_argument, 0, O_MMAP},
        {"say", required_argument, 0, O_SAY}, {"output", required_argument, 0, 'o'},
        {"voice", required_argument, 0, O_VOICE}, {"length-scale", required_argument, 0, O_LSCALE},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    char model_buf[PATH_MAX], err[512] = "";
    const char *model = NULL, *prompt = NULL, *system_msg = NULL, *backend = "cpu", *logits_path = NULL;
    int chat = 0, n_predict = 256, threads = 0, n_ctx = 0, kv_f32 = 0, json = 0, use_mmap = 0, c, r, rc_exit = 0;
    const char *media_path[MAX_MEDIA];
    MediaKind media_kind[MAX_MEDIA];
    MediaItem media[MAX_MEDIA] = {0};
    int n_media = 0, n_frames = VIDEO_DEFAULT_FRAMES;
    MynaModel *mm = NULL;
    MynaSession *ms = NULL;
    LmSampling sp;
    RunCtx rc = {0};
    Backend *be = NULL;
    LmModel *m = NULL;
    LmSession *s = NULL;
    LmStats tot = {0};
    LmStop stop = LM_STOP_NONE;
    char *end, *spoken = NULL, wdir[PATH_MAX + 64];
    const char *audio_path = NULL, *whisper_dir = NULL, *say_text = NULL, *say_out = NULL, *voice_path = NULL;
    float length_scale = 0;

    lm_sampling_default(&sp);
    sp.temperature = 0;
    while ((c = getopt_long(argc, argv, "m:p:n:t:o:h", opts, NULL)) != -1) {
        errno = 0;
        end = NULL;
        switch (c) {
        case 'm': model = optarg; break;
        case 'p': prompt = optarg; break;
        case O_CHAT: chat = 1; break;
        case O_SYSTEM: system_msg = optarg; break;
        case 'n': n_predict = (int)strtol(optarg, &end, 10); break;
        case O_TEMP: sp.temperature = strtof(optarg, &end); break;
        case O_TOPK: sp.top_k = (int)strtol(optarg, &end, 10); break;
        case O_TOPP: sp.top_p = strtof(optarg, &end); break;
        case O_MINP: sp.min_p = strtof(optarg, &end); break;
        case O_REP: sp.repeat_penalty = strtof(optarg, &end); break;
        case O_SEED: sp.seed = strtoull(optarg, &end, 10); break;
        case 't': threads = (int)strtol(optarg, &end, 10); break;
        case O_BACKEND: backend = optarg; break;
        case O_CTX: n_ctx = (int)strtol(optarg, &end, 10); break;
        case O_KVF32: kv_f32 = 1; break;
        case O_MMAP: use_mmap = 1; break;
        case O_PRINT: rc.print_tokens = 1; break;
        case O_LOGITS: logits_path = optarg; break;
        case O_JSON: json = 1; break;
        case O_IMAGE:
        case O_VIDEO:
            if (n_media == MAX_MEDIA)
                return fail("at most %d attachments%s", "16", "");
            media_path[n_media] = optarg;
            media_kind[n_media++] = c == O_IMAGE ? MEDIA_IMAGE : MEDIA_VIDEO;
            break;
        case O_FRAMES: n_frames = (int)strtol(optarg, &end, 10); break;
        case O_AUDIO: audio_path = optarg; break;
        case O_WHISPER: whisper_dir = optarg; break;
        case O_SAY: say_text = optarg; break;
        case 'o': say_out = optarg; break;
        case O_VOICE: voice_path = optarg; break;
        case O_LSCALE: length_scale = strtof(optarg, &end); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
        if (end && (*end || errno || end == optarg))
            return fail("bad number '%s' for option %s", optarg, argv[optind - 1]);
    }
    if (optind < argc)
        return fail("unexpected argument '%s'%s", argv[optind], "");
    if (n_predict < 0 || n_ctx < 0 || threads < 0)
        return fail("negative count%s%s", "", "");
    if (n_frames < 1 || n_frames > MEDIA_MAX_FRAMES)
        return fail("--frames must be 1..%s%s", "16", "");
    if (n_media > 0 && !prompt)
        return fail("--image/--video need -p TEXT%s%s", "", "");
    sp.max_tokens = n_predict;
    if (!model) {
        if (default_model(model_buf, sizeof(model_buf)) < 0)
            return fail("model path too long%s%s", "", "");
        model = model_buf;
    }
    if (say_text)
        return run_say(say_text, say_out, voice_path, length_scale, backend, threads);
    if (!prompt && !chat && !audio_path)
        return fail("no prompt: use -p TEXT, --audio FILE or --chat%s%s", "", "");

    if ((r = backend_new_by_name(backend, threads, &be, err, sizeof(err))) < 0)
        return fail("backend %s: %s", backend, err);
    if (audio_path) {
        if (!whisper_dir) { /* beside the default LM in the models dir */
            char dm[PATH_MAX], *slash;
            if (default_model(dm, sizeof(dm)) < 0 || !(slash = strrchr(dm, '/')))
                return fail("model path too long%s%s", "", "");
            *slash = 0;
            snprintf(wdir, sizeof(wdir), "%s/whisper-tiny.en", dm);
            whisper_dir = wdir;
        }
        r = transcribe_file(audio_path, whisper_dir, be, &spoken, err, sizeof(err));
        if (r < 0 || !spoken) {
            backend_free(be);
            return fail("%s: %s", audio_path, err[0] ? err : strerror(-r));
        }
        fprintf(stderr, "myna-run: heard \"%s\"\n", spoken);
        size_t n = strlen(spoken) + (prompt ? strlen(prompt) : 0) + 3;
        char *joined = malloc(n);
        if (!joined) {
            free(spoken);
            backend_free(be);
            return fail("out of memory%s%s", "", "");
        }
        snprintf(joined, n, "%s%s%s", prompt ? prompt : "", prompt ? "\n\n" : "", spoken);
        free(spoken);
        spoken = joined;
        prompt = spoken;
    }
    LmLoadOptions lo = {n_ctx, !kv_f32, NULL, use_mmap};
    if ((r = myna_model_load(model, be, &lo, &mm, err, sizeof(err))) < 0) {
        rc_exit = fail("cannot load %s: %s", model, err[0] ? err : strerror(-r));
        goto out;
    }
    m = myna_model_lm(mm);
    for (int i = 0; i < n_media; i++)
        if (!myna_model_accepts(mm, media_kind[i])) {
            const char *base = strrchr(model, '/') && strrchr(model, '/')[1] ? strrchr(model, '/') + 1 : model;
            rc_exit = fail("model %s has no vision encoder; use a Llama 3.2 Vision (mllama) model folder%s", base,
                           "");
            goto out;
        }
    MediaLimits ml;
    media_limits_default(&ml);
    ml.video_frames = n_frames;
    for (int i = 0; i < n_media; i++)
        if ((r = media_decode_file(media_path[i], media_kind[i], &ml, &media[i], err, sizeof(err))) < 0) {
            rc_exit = fail("%s: %s", media_path[i], err[0] ? err : strerror(-r));
            goto out;
        }
    if ((r = myna_session_new(mm, &ms)) < 0) {
        rc_exit = fail("cannot create a session: %s%s", strerror(-r), "");
        goto out;
    }
    s = myna_session_lm(ms);
    if (logits_path)
        lm_session_keep_all_logits(s, 1);
    if (chat && system_msg && (r = lm_session_add_message(s, "system", system_msg)) < 0) {
        rc_exit = fail("system message: %s%s", strerror(-r), "");
        goto out;
    }
    if (prompt) {
        r = myna_session_add(ms, chat ? "user" : NULL, prompt, media, n_media, err, sizeof(err));
        if (r < 0) {
            rc_exit = fail("prompt: %s%s", r == -E2BIG ? "longer than the context: " : "", err);
            goto out;
        }
        if ((r = run_turn(s, &sp, &rc, n_predict, logits_path, &tot, &stop)) < 0) {
            rc_exit = fail("generation failed: %s%s", strerror(-r), "");
            goto out;
        }
        if (!rc.print_tokens)
            printf("\n");
    } else {
        char line[8192];
        fprintf(stderr, "myna-run: chat with %s (empty line or EOF ends)\n", lm_model_info(m)->name);
        while (fputs("> ", stderr), fgets(line, sizeof(line), stdin)) {
            line[strcspn(line, "\n")] = 0;
            if (!line[0])
                break;
            if ((r = lm_session_add_message(s, "user", line)) < 0) {
                fprintf(stderr, "myna-run: %s\n", r == -E2BIG ? "context full" : strerror(-r));
                break;
            }
            if ((r = run_turn(s, &sp, &rc, n_predict, NULL, &tot, &stop)) < 0) {
                rc_exit = fail("generation failed: %s%s", strerror(-r), "");
                goto out;
            }
            printf("\n");
        }
    }

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double pf = tot.prefill_ms > 0 ? tot.n_prompt * 1e3 / tot.prefill_ms : 0;
    double dc = tot.decode_ms > 0 ? tot.n_generated * 1e3 / tot.decode_ms : 0;
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:s}", "model",
                              lm_model_info(m)->name, "backend", be->desc, "weight_bytes",
                              (json_int_t)lm_model_info(m)->weight_bytes, "prompt_tokens", tot.n_prompt,
                              "generated_tokens", tot.n_generated, "prefill_ms", tot.prefill_ms, "decode_ms",
                              tot.decode_ms, "prefill_tok_s", pf, "decode_tok_s", dc, "peak_rss_mb",
                              ru.ru_maxrss / 1024.0, "stop", lm_stop_name(stop));
        char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (txt)
            printf("%s\n", txt);
        free(txt);
        json_decref(o);
    } else {
        fprintf(stderr, "myna-run: %s on %s: prefill %d tokens %.1f tok/s, decode %d tokens %.1f tok/s, "
                        "stop %s, peak RSS %.0f MB\n", lm_model_info(m)->name, be->desc, tot.n_prompt, pf,
                tot.n_generated, dc, lm_stop_name(stop), ru.ru_maxrss / 1024.0);
    }
out:
    free(spoken);
    free(rc.out_ids);
    myna_session_free(ms);
    myna_model_free(mm);
    for (int i = 0; i < n_media; i++)
        media_item_free(&media[i]);
    backend_free(be);
    return rc_exit;
}
