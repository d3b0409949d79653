/* A small JSON Schema validator for the subset docs/schema/ uses: type
 * (string or list), properties, required, additionalProperties (boolean),
 * const, enum, minLength/maxLength (characters), pattern (POSIX ERE),
 * minimum/maximum, items, maxItems, oneOf. Anything else in a schema is an
 * error, so a schema cannot silently use a keyword this does not check. */
#pragma once

#include <jansson.h>
#include <stddef.h>

/* Validates v against the schema docs/schema/<name>.json under dir. Returns 0,
 * or -1 with the first problem in why. */
int schema_validate_file(const char *dir, const char *name, const json_t *v, char *why,
			 size_t whysize);
int schema_validate(const json_t *schema, const json_t *v, char *why, size_t whysize);
/* Validates one server message (response or event) and, when a schema
 * exists for it, its result (method given) or its event data. */
int schema_validate_message(const char *dir, const char *text, const char *method, char *why,
			    size_t whysize);
