/* Glue between the call engine's ops interfaces and the components that
 * carry them out. Control thread. Lives beside main.c because it is the only
 * place allowed to know more than one component. */
#pragma once

#include "engine/engine.h"

struct sb_bus;

/* Browser clients: replies and events go to the signal server as WS_REPLY
 * and WS_EVENT on the control bus. ud is the control bus. */
extern const struct sb_engine_client_ops sb_adapter_client_ops;
