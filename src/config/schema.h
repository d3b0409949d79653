/* The config schema: every section and key, with type, default and range.
 * Internal to src/config. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sb_ctype {
	SB_CT_INT,	/* int64_t within [min, max] */
	SB_CT_BOOL,	/* bool: true/false/yes/no/on/off/1/0 */
	SB_CT_STR,	/* char *, may be empty; NULL when default is NULL */
	SB_CT_ENUM,	/* char *, one of choices */
	SB_CT_DURATION, /* int64_t milliseconds: "250ms", "30s", "5m", "1h"; plain number = s */
	SB_CT_LIST,	/* char ** NULL-terminated, comma-separated in the file */
	_SB_CT_MAX,
	_SB_CT_INVALID = -22,
};

struct sb_strbuf;

struct sb_config_key {
	const char *name;
	enum sb_ctype type;
	size_t offset;	 /* within the section struct */
	const char *def; /* default, in file syntax; NULL for none */
	int64_t min, max;
	const char *const *choices; /* SB_CT_ENUM; NULL-terminated */
	/* SB_CT_STR: checks a value before it is taken; < 0 refuses it with
	 * the reason in why. NULL: any text. */
	int (*check)(const char *value, struct sb_strbuf *why);
};

struct sb_config_section {
	const char *name;
	bool repeat;	     /* [name label] sections, kept in file order */
	size_t offset;	     /* singleton: struct in sb_config; repeat: the array pointer */
	size_t count_offset; /* repeat: size_t count in sb_config */
	size_t elem_size;    /* repeat: element size; the element starts with char *name */
	const struct sb_config_key *keys;
};

extern const struct sb_config_section sb__config_sections[];
