/* A set of int64 keys for one group at a time (a query's documents): each key maps to a row number.
 * Starting a new group bumps a stamp instead of clearing the table. Shared by the compiled modules. */
#ifndef HYBRID_KEYSET_H
#define HYBRID_KEYSET_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t key, row;
    uint32_t stamp;
} Slot;

typedef struct {
    Slot *slots;
    uint64_t mask;
    uint32_t stamp;
} KeySet;

static inline uint64_t mix(int64_t key) {
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 29);
}

/* An empty table of `size` (a power of two) slots; 0, or -1 when out of memory. */
static int keyset_reset(KeySet *set, uint64_t size) {
    Slot *slots = calloc(size, sizeof(Slot));
    if (!slots) return -1;
    free(set->slots);
    set->slots = slots;
    set->mask = size - 1;
    set->stamp = 1;
    return 0;
}

/* Forget every key (a new group starts). */
static inline void keyset_new_group(KeySet *set) {
    if (++set->stamp == 0) { /* stamps wrapped: clear the table once */
        memset(set->slots, 0, (set->mask + 1) * sizeof(Slot));
        set->stamp = 1;
    }
}

/* The row stored under key, or -1 after storing `row` under it. */
static inline int64_t keyset_find_or_add(KeySet *set, int64_t key, int64_t row) {
    uint64_t i = mix(key) & set->mask;
    while (set->slots[i].stamp == set->stamp && set->slots[i].key != key) i = (i + 1) & set->mask;
    if (set->slots[i].stamp == set->stamp) return set->slots[i].row;
    set->slots[i] = (Slot){key, row, set->stamp};
    return -1;
}

#endif
