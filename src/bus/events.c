/* The event catalogue table. Any thread; read-only data. */
#include "bus/events.h"

#include <string.h>

static const struct sb_event_desc catalogue[_SB_EV_MAX] = {[SB_EV_NONE] = {"none", SB_PRIO_LOW, ""},
#define SB_X(id, nm, pr, pl) [SB_EV_##id] = {.name = nm, .prio = SB_PRIO_##pr, .payload = pl},
							   SB_EVENT_CATALOGUE(SB_X)
#undef SB_X
};

const struct sb_event_desc *sb_event_desc(enum sb_event_type type)
{
	if ((int)type <= 0 || type >= _SB_EV_MAX)
		return NULL;
	return &catalogue[type];
}

enum sb_event_type sb_event_type_from_name(const char *s)
{
	for (int i = 1; i < _SB_EV_MAX; i++)
		if (strcmp(catalogue[i].name, s) == 0)
			return (enum sb_event_type)i;
	return _SB_EV_INVALID;
}

const char *sb_prio_name(enum sb_prio prio)
{
	static const char *const names[_SB_PRIO_MAX] = {"critical", "high", "normal", "low"};

	if ((int)prio < 0 || prio >= _SB_PRIO_MAX)
		return "?";
	return names[prio];
}
