#ifndef LUCERNA_CZLIB_SHIM_H
#define LUCERNA_CZLIB_SHIM_H
#include <zlib.h>
#endif
