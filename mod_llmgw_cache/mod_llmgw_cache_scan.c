/* Licensed under the Apache License, Version 2.0 (see LICENSE). */
/* The JSON scanner of mod_llmgw, built into this module as well: a
 * satellite must load without mod_llmgw's symbols (any load order). */
#include "../mod_llmgw/llmgw_json_scan.c"
