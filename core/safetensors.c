/* safetensors.c — placeholder until its component lands. */
typedef int myna_placeholder_safetensors_c;
