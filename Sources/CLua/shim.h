#ifndef LUCERNA_CLUA_SHIM_H
#define LUCERNA_CLUA_SHIM_H
#include <lua5.4/lua.h>
#include <lua5.4/lualib.h>
#include <lua5.4/lauxlib.h>
#include <stdio.h>

/* Lua's function-like macros, which Swift does not import. */
static inline void lucerna_pop(lua_State *L, int n) { lua_settop(L, -(n) - 1); }
static inline const char *lucerna_tostring(lua_State *L, int i) { return lua_tolstring(L, i, NULL); }
static inline void lucerna_newtable(lua_State *L) { lua_createtable(L, 0, 0); }
static inline int lucerna_pcall(lua_State *L, int n, int r, int f) { return lua_pcallk(L, n, r, f, 0, NULL); }
static inline int lucerna_upvalueindex(int i) { return LUA_REGISTRYINDEX - i; }
static inline int lucerna_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline lua_Number lucerna_tonumber(lua_State *L, int i) { return lua_tonumberx(L, i, NULL); }
static inline lua_Integer lucerna_tointeger(lua_State *L, int i) { return lua_tointegerx(L, i, NULL); }
static inline void *lucerna_newuserdata(lua_State *L, size_t size) { return lua_newuserdatauv(L, size, 1); }
static inline int lucerna_loadbuffer(lua_State *L, const char *s, size_t size, const char *name) {
    return luaL_loadbufferx(L, s, size, name, "t");   /* text chunks only: no precompiled bytecode */
}

/* lua_gc is variadic, which Swift does not import. */
static inline int lucerna_gccollect(lua_State *L) { return lua_gc(L, LUA_GCCOLLECT, 0); }

/* Swift implements this (with @_cdecl): it runs the Swift closure behind the current C closure and
   returns the number of results, or -1 with an error message pushed. It never raises. */
extern int lucerna_swift_dispatch(lua_State *L);

/* The C function every Swift-backed Lua function is. Raising (longjmp) happens here, in C, after the
   Swift frames have returned, never across them. */
static inline int lucerna_trampoline(lua_State *L) {
    int results = lucerna_swift_dispatch(L);
    if (results < 0) return lua_error(L);
    return results;
}

/* A panic handler must not return into Lua; it reports and aborts. It is only reached for errors
   outside any protected call, which Lucerna never makes. */
static inline int lucerna_panic(lua_State *L) {
    const char *message = lua_tolstring(L, -1, NULL);
    fprintf(stderr, "lucerna: unprotected Lua error: %s\n", message ? message : "(no message)");
    return 0;
}

/* Sandbox limits: an instruction budget and a memory cap (Lua heap plus the engine's live tensor bytes,
   which Swift reports through lucerna_swift_engine_bytes). Both are checked by a count hook every
   LUCERNA_HOOK_INTERVAL instructions; the hook raises from C, inside the Lua VM, so it never unwinds
   Swift frames. The allocator only counts: failing allocations would raise from Lua API calls made by
   Swift. */
#include <stdlib.h>
#define LUCERNA_HOOK_INTERVAL 1000
typedef struct {
    long long instructionBudget;   /* 0: unlimited */
    long long instructionsLeft;
    long long memoryCap;           /* bytes; 0: unlimited */
    long long luaBytes;
} lucerna_limits;

extern long long lucerna_swift_engine_bytes(void);

static inline void *lucerna_allocate(void *userdata, void *pointer, size_t oldSize, size_t newSize) {
    lucerna_limits *limits = (lucerna_limits *)userdata;
    if (newSize == 0) {
        if (pointer) limits->luaBytes -= (long long)oldSize;
        free(pointer);
        return NULL;
    }
    void *result = realloc(pointer, newSize);
    if (result) limits->luaBytes += (long long)newSize - (pointer ? (long long)oldSize : 0);
    return result;
}

static inline lucerna_limits *lucerna_state_limits(lua_State *L) { return *(lucerna_limits **)lua_getextraspace(L); }

/* Raises `message` with the position of the Lua function the hook interrupted (level 0 inside a hook). */
static inline void lucerna_hook_error(lua_State *L, const char *message) {
    luaL_where(L, 0);
    lua_pushstring(L, message);
    lua_concat(L, 2);
    lua_error(L);
}

static inline void lucerna_limit_hook(lua_State *L, lua_Debug *record) {
    (void)record;
    char message[200];
    lucerna_limits *limits = lucerna_state_limits(L);
    if (!limits) return;
    if (limits->instructionBudget > 0) {
        limits->instructionsLeft -= LUCERNA_HOOK_INTERVAL;
        if (limits->instructionsLeft < 0) {
            /* Stays exhausted: a script that catches this error with pcall fails again at the next hook. */
            snprintf(message, sizeof message, "sandbox: instruction budget of %lld exceeded (raise it with --max-instructions)",
                     limits->instructionBudget);
            lucerna_hook_error(L, message);
        }
    }
    if (limits->memoryCap > 0) {
        long long used = limits->luaBytes + lucerna_swift_engine_bytes();
        if (used > limits->memoryCap) {
            snprintf(message, sizeof message, "sandbox: memory cap of %lld MB exceeded (%lld MB in use; raise it with --max-memory)",
                     limits->memoryCap >> 20, used >> 20);
            lucerna_hook_error(L, message);
        }
    }
}

/* A state whose allocations are counted in `limits` (which must outlive it). */
static inline lua_State *lucerna_newstate(lucerna_limits *limits) {
    lua_State *L = lua_newstate(lucerna_allocate, limits);
    if (L) *(lucerna_limits **)lua_getextraspace(L) = limits;
    return L;
}

static inline void lucerna_install_limit_hook(lua_State *L) {
    lua_sethook(L, lucerna_limit_hook, LUA_MASKCOUNT, LUCERNA_HOOK_INTERVAL);
}
#endif
