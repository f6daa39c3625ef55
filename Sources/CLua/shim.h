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
static inline int lucerna_upvalueindex(int i) { return LUA_REGISTRYINDEX - i; }
static inline int lucerna_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline lua_Number lucerna_tonumber(lua_State *L, int i) { return lua_tonumberx(L, i, NULL); }
static inline lua_Integer lucerna_tointeger(lua_State *L, int i) { return lua_tointegerx(L, i, NULL); }
static inline void *lucerna_newuserdata(lua_State *L, size_t size) { return lua_newuserdatauv(L, size, 1); }
static inline int lucerna_loadbuffer(lua_State *L, const char *s, size_t size, const char *name) {
    return luaL_loadbufferx(L, s, size, name, "t");   /* text chunks only: no precompiled bytecode */
}

/* Raw reads and writes for tables a script controls: never a metamethod, so never a raise or a script
   function run inside a Swift frame. */
static inline int lucerna_rawgetfield(lua_State *L, int index, const char *key) {
    index = lua_absindex(L, index);
    lua_pushstring(L, key);
    return lua_rawget(L, index);
}
static inline int lucerna_rawgetglobal(lua_State *L, const char *name) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    lua_pushstring(L, name);
    int type = lua_rawget(L, -2);
    lua_remove(L, -2);
    return type;
}
/* Pops the value on top into the global `name`. */
static inline void lucerna_rawsetglobal(lua_State *L, const char *name) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    lua_insert(L, -2);
    lua_pushstring(L, name);
    lua_insert(L, -2);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

/* lua_gc is variadic, which Swift does not import. */
static inline int lucerna_gccollect(lua_State *L) { return lua_gc(L, LUA_GCCOLLECT, 0); }

/* Swift implements this (with @_cdecl): it runs the Swift closure behind the current C closure and
   returns the number of results, or -1 with an error message pushed. It never raises. */
extern int lucerna_swift_dispatch(lua_State *L);


/* A panic handler must not return into Lua; it reports and aborts. It is only reached for errors
   outside any protected call, which Lucerna never makes. */
static inline int lucerna_panic(lua_State *L) {
    const char *message = lua_tolstring(L, -1, NULL);
    fprintf(stderr, "lucerna: unprotected Lua error: %s\n", message ? message : "(no message)");
    return 0;
}

/* Sandbox limits: an instruction budget, a memory cap (Lua heap plus the engine's live tensor bytes, which
   Swift reports through lucerna_swift_engine_bytes) and a wall-clock deadline.
   - The count hook checks the budget, the memory and the clock every LUCERNA_HOOK_INTERVAL instructions.
   - The allocator refuses a Lua allocation that would pass the cap, but only while `allocationMayFail` is
     set: inside a protected call made by Swift (lucerna_pcall), never inside a Swift function called from
     Lua (the trampoline clears it), because a refused allocation raises, and raising must never unwind
     Swift frames.
   - Once a limit is hit the state is `tripped`: every thread's hook then runs at every instruction and
     raises, and every Swift function refuses to run, so no pcall, xpcall, coroutine or __close handler
     can keep the script going; the message is kept here, where the script cannot change it. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define LUCERNA_HOOK_INTERVAL 1000
typedef struct {
    long long instructionBudget;   /* 0: unlimited */
    long long instructionsLeft;
    long long memoryCap;           /* bytes; 0: unlimited */
    long long luaBytes;
    long long deadline;            /* CLOCK_MONOTONIC nanoseconds; 0: none */
    long long seconds;             /* the wall-clock limit, for the message */
    int allocationMayFail;
    int claimed;                   /* set by the first trip, before the message is written */
    int tripped;                   /* set after the message is written */
    int line;                      /* the last line the hook saw, for a stop outside Lua */
    lua_State *running;            /* the thread (main or coroutine) whose Swift function runs now */
    int highestRead;               /* the highest argument position the running Swift function has read */
    char message[300];
    char source[120];
} lucerna_limits;

extern long long lucerna_swift_engine_bytes(void);

static inline long long lucerna_monotonic_nanoseconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

/* Records the first limit hit; later ones keep the first message. Safe from any thread. */
static inline void lucerna_trip(lucerna_limits *limits, const char *message) {
    int expected = 0;
    if (__atomic_compare_exchange_n(&limits->claimed, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        snprintf(limits->message, sizeof limits->message, "%s", message);
        __atomic_store_n(&limits->tripped, 1, __ATOMIC_RELEASE);
    }
}

static inline int lucerna_tripped(lucerna_limits *limits) {
    return __atomic_load_n(&limits->tripped, __ATOMIC_ACQUIRE);
}

static inline const char *lucerna_limit_message(lucerna_limits *limits) { return limits->message; }
static inline const char *lucerna_limit_source(lucerna_limits *limits) { return limits->source; }

/* Clears a trip (before the state is closed, so finalizers of Swift objects run). */
static inline void lucerna_untrip(lucerna_limits *limits) {
    __atomic_store_n(&limits->tripped, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&limits->claimed, 0, __ATOMIC_RELEASE);
}

static inline void *lucerna_allocate(void *userdata, void *pointer, size_t oldSize, size_t newSize) {
    lucerna_limits *limits = (lucerna_limits *)userdata;
    if (newSize == 0) {
        if (pointer) limits->luaBytes -= (long long)oldSize;
        free(pointer);
        return NULL;
    }
    long long growth = (long long)newSize - (pointer ? (long long)oldSize : 0);
    if (growth > 0 && limits->memoryCap > 0 && limits->allocationMayFail) {
        long long used = limits->luaBytes + lucerna_swift_engine_bytes();
        if (used + growth > limits->memoryCap) {
            char message[200];
            snprintf(message, sizeof message,
                     "sandbox: memory cap of %lld MB exceeded (%lld MB in use, %lld MB more requested; raise it with --max-memory)",
                     limits->memoryCap >> 20, used >> 20, (growth + (1 << 20) - 1) >> 20);
            lucerna_trip(limits, message);
            return NULL;
        }
    }
    void *result = realloc(pointer, newSize);
    if (result) limits->luaBytes += growth;
    return result;
}

static inline lucerna_limits *lucerna_state_limits(lua_State *L) { return *(lucerna_limits **)lua_getextraspace(L); }

static inline void lucerna_limit_hook(lua_State *L, lua_Debug *record) {
    lucerna_limits *limits = lucerna_state_limits(L);
    if (!limits) return;
    if (!lucerna_tripped(limits)) {
        char message[200];
        if (lua_getinfo(L, "Sl", record)) {
            __atomic_store_n(&limits->line, record->currentline, __ATOMIC_RELAXED);
            if (strncmp(limits->source, record->short_src, sizeof limits->source - 1) != 0)
                snprintf(limits->source, sizeof limits->source, "%s", record->short_src);
        }
        if (limits->instructionBudget > 0) {
            limits->instructionsLeft -= LUCERNA_HOOK_INTERVAL;
            if (limits->instructionsLeft < 0) {
                snprintf(message, sizeof message,
                         "sandbox: instruction budget of %lld exceeded (raise it with --max-instructions)",
                         limits->instructionBudget);
                lucerna_trip(limits, message);
            }
        }
        if (limits->memoryCap > 0) {
            long long used = limits->luaBytes + lucerna_swift_engine_bytes();
            if (used > limits->memoryCap) {
                snprintf(message, sizeof message,
                         "sandbox: memory cap of %lld MB exceeded (%lld MB in use; raise it with --max-memory)",
                         limits->memoryCap >> 20, used >> 20);
                lucerna_trip(limits, message);
            }
        }
        if (limits->deadline > 0 && lucerna_monotonic_nanoseconds() > limits->deadline) {
            snprintf(message, sizeof message, "sandbox: time limit of %lld s exceeded (raise it with --max-seconds)",
                     limits->seconds);
            lucerna_trip(limits, message);
        }
    }
    if (lucerna_tripped(limits)) {
        /* From now on this thread stops at every instruction: each raise unwinds at least one protected
           call, so the script cannot loop on pcall. */
        lua_sethook(L, lucerna_limit_hook, LUA_MASKCOUNT, 1);
        luaL_where(L, 0);
        lua_pushstring(L, limits->message);
        lua_concat(L, 2);
        lua_error(L);
    }
}

/* Records the position of the Lua code that called the function calling this one (the sandbox's wrappers
   of long-running C functions such as string.find call it), for a stop while that C function runs. */
static inline int lucerna_mark_position(lua_State *L) {
    lucerna_limits *limits = lucerna_state_limits(L);
    lua_Debug record;
    if (limits && lua_getstack(L, 2, &record) && lua_getinfo(L, "Sl", &record) && record.currentline > 0) {
        __atomic_store_n(&limits->line, record.currentline, __ATOMIC_RELAXED);
        if (strncmp(limits->source, record.short_src, sizeof limits->source - 1) != 0)
            snprintf(limits->source, sizeof limits->source, "%s", record.short_src);
    }
    return 0;
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

/* A protected call made by Swift: inside it, Lua allocations may be refused (the error ends at this call). */
static inline int lucerna_pcall(lua_State *L, int n, int r, int f) {
    lucerna_limits *limits = lucerna_state_limits(L);
    int saved = limits ? limits->allocationMayFail : 0;
    if (limits) limits->allocationMayFail = 1;
    int status = lua_pcallk(L, n, r, f, 0, NULL);
    if (limits) limits->allocationMayFail = saved;
    return status;
}

/* The C function every Swift-backed Lua function is. Raising (longjmp) happens here, in C, after the
   Swift frames have returned, never across them; while Swift runs, Lua allocations are never refused.
   A tripped state runs no Swift function. */
static inline int lucerna_trampoline(lua_State *L) {
    lucerna_limits *limits = lucerna_state_limits(L);
    if (limits && lucerna_tripped(limits)) {
        luaL_where(L, 1);
        lua_pushstring(L, limits->message);
        lua_concat(L, 2);
        return lua_error(L);
    }
    int saved = limits ? limits->allocationMayFail : 0;
    lua_State *savedThread = limits ? limits->running : NULL;
    int savedRead = limits ? limits->highestRead : 0;
    if (limits) {
        limits->allocationMayFail = 0;
        limits->running = L;
        limits->highestRead = 0;
    }
    int results = lucerna_swift_dispatch(L);
    if (limits) {
        limits->allocationMayFail = saved;
        limits->running = savedThread;
        limits->highestRead = savedRead;
    }
    if (results < 0) return lua_error(L);
    return results;
}

/* The message handler of every protected call Swift makes: the message with a traceback. An error object
   that is not a string or number (error({}), error(userdata)) is described by its type at the position of
   the Lua function that raised it; its __tostring is never called (it may fail or recurse). */
static inline int lucerna_message_handler(lua_State *L) {
    const char *message = NULL;
    if (lua_type(L, 1) == LUA_TSTRING || lua_type(L, 1) == LUA_TNUMBER) {
        message = lua_tolstring(L, 1, NULL);
    } else {
        lua_Debug record;
        int level = 1;
        while (lua_getstack(L, level, &record)) {
            if (lua_getinfo(L, "Sl", &record) && record.currentline > 0) break;
            level++;
        }
        if (lua_getstack(L, level, &record) && lua_getinfo(L, "Sl", &record) && record.currentline > 0)
            lua_pushfstring(L, "%s:%d: ", record.short_src, record.currentline);
        else
            lua_pushliteral(L, "");
        lua_pushfstring(L, "error object is a %s value, not a message", luaL_typename(L, 1));
        lua_concat(L, 2);
        message = lua_tolstring(L, -1, NULL);
    }
    luaL_traceback(L, L, message, 1);
    return 1;
}

static inline int lucerna_index_body(lua_State *L) {
    lua_gettable(L, 1);
    return 1;
}
/* `table[key]` with metamethods (a plugin instance inherits its methods through __index), in a protected
   call: pushes the value, or the error message when a metamethod failed; returns the call's status. */
static inline int lucerna_protected_getfield(lua_State *L, int index, const char *key) {
    index = lua_absindex(L, index);
    lua_pushcclosure(L, lucerna_index_body, 0);
    lua_pushvalue(L, index);
    lua_pushstring(L, key);
    return lucerna_pcall(L, 2, 1, 0);
}
#endif
