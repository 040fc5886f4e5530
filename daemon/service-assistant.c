/* service-assistant.c — the /org/myna/Assistant1 object's vtable: CreateSession and Transcribe (their
 * handlers are in service.c, beside the sessions they make), GetConfig and the read-only properties
 * (Version, Backend, State, Models, Voices). Runs on the loop thread like the rest of service.c.
 */
#include <stdio.h>
#include <string.h>

#include "config.h" /* MYNA_VERSION (generated) */
#include "mynad-config.h"
#include "service-impl.h"
#include "speak-job.h"

static int method_get_config(sd_bus_message *m, void *userdata, sd_bus_error *e)
{
    Service *s = userdata;
    sd_bus_message *reply = NULL;
    char v[CONFIG_STR_MAX];
    int r;

    r = sd_bus_message_new_method_return(m, &reply);
    if (r < 0)
        return r;
    r = sd_bus_message_open_container(reply, 'a', "{sv}");
    for (int i = 0; r >= 0 && i < config_n_keys; i++) {
        const CfgKey *k = &config_keys[i];
        const char *base = (const char *)&s->cfg;
        if (k->type == CFG_STR) {
            if (!strcmp(k->name, "model"))
                config_model_path(&s->cfg, v, sizeof(v));
            else if (!strcmp(k->name, "whisper_model"))
                config_whisper_path(&s->cfg, v, sizeof(v));
            else
                config_format(&s->cfg, k, v, sizeof(v));
            r = sd_bus_message_append(reply, "{sv}", k->name, "s", v);
        } else if (k->type == CFG_INT) {
            r = sd_bus_message_append(reply, "{sv}", k->name, "i", *(const int *)(const void *)(base + k->offset));
        } else {
            r = sd_bus_message_append(reply, "{sv}", k->name, "d",
                                      *(const double *)(const void *)(base + k->offset));
        }
    }
    if (r >= 0)
        r = sd_bus_message_close_container(reply);
    if (r >= 0)
        r = sd_bus_send(NULL, reply, NULL);
    sd_bus_message_unref(reply);
    return r < 0 ? r : 1;
}

static int prop_version(sd_bus *bus, const char *path, const char *iface, const char *prop,
                        sd_bus_message *reply, void *userdata, sd_bus_error *e)
{
    return sd_bus_message_append(reply, "s", MYNA_VERSION);
}

static int prop_state(sd_bus *bus, const char *path, const char *iface, const char *prop, sd_bus_message *reply,
                      void *userdata, sd_bus_error *e)
{
    Service *s = userdata;
    char msg[512], out[600];
    WorkerState st = worker_state(s->worker, msg, sizeof(msg));

    if (st == WORKER_LOADING)
        return sd_bus_message_append(reply, "s", "loading");
    if (st == WORKER_READY)
        return sd_bus_message_append(reply, "s", "ready");
    snprintf(out, sizeof(out), "error: %s", msg);
    service_utf8_sanitize(out);
    return sd_bus_message_append(reply, "s", out);
}

static int prop_backend(sd_bus *bus, const char *path, const char *iface, const char *prop,
                        sd_bus_message *reply, void *userdata, sd_bus_error *e)
{
    Service *s = userdata;
    const Engine *en = worker_engine(s->worker);
    char out[160];

    if (en)
        return sd_bus_message_append(reply, "s", en->backend_desc);
    snprintf(out, sizeof(out), "%s (not started)", s->cfg.backend);
    return sd_bus_message_append(reply, "s", out);
}

/* Models: a(ssttsu) = (name, path, parameters, weight bytes, chat family, context length per session). */
static int prop_voices(sd_bus *bus, const char *path, const char *iface, const char *prop,
                       sd_bus_message *reply, void *userdata, sd_bus_error *e)
{
    Service *s = userdata;
    return speak_prop_voices(reply, &s->cfg); /* speak-bus.c */
}

static int prop_models(sd_bus *bus, const char *path, const char *iface, const char *prop,
                       sd_bus_message *reply, void *userdata, sd_bus_error *e)
{
    Service *s = userdata;
    const Engine *en = worker_engine(s->worker);
    char p[CONFIG_STR_MAX];
    int r;

    r = sd_bus_message_open_container(reply, 'a', "(ssttsu)");
    if (r < 0)
        return r;
    if (en) {
        r = sd_bus_message_append(reply, "(ssttsu)", en->name, en->path, (uint64_t)en->n_params,
                                  (uint64_t)en->weight_bytes, en->chat_family, (uint32_t)en->n_ctx);
    } else {
        config_model_path(&s->cfg, p, sizeof(p));
        const char *base = strrchr(p, '/');
        r = sd_bus_message_append(reply, "(ssttsu)", base ? base + 1 : p, p, (uint64_t)0, (uint64_t)0, "",
                                  (uint32_t)0);
    }
    if (r < 0)
        return r;
    return sd_bus_message_close_container(reply);
}

const sd_bus_vtable service_assistant_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_NAMES("CreateSession", "a{sv}", SD_BUS_PARAM(options), "o", SD_BUS_PARAM(session),
                             service_method_create_session, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("GetConfig", "", , "a{sv}", SD_BUS_PARAM(config), method_get_config,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("Transcribe", "ha{sv}", SD_BUS_PARAM(audio) SD_BUS_PARAM(options), "s",
                             SD_BUS_PARAM(text), service_method_transcribe, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_PROPERTY("Version", "s", prop_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Backend", "s", prop_backend, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("State", "s", prop_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("Models", "a(ssttsu)", prop_models, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("Voices", "a(sssuu)", prop_voices, 0, 0),
    SD_BUS_VTABLE_END,
};
