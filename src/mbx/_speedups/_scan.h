/* Scanning helpers for _parser.pyx: how many leading bytes of character data
 * need no attention. A byte needs attention when it is '<', '&' or ']', a C0
 * control other than tab and LF (CR included), or >= 0x80 (UTF-8 to check).
 * SSE2 looks at 16 bytes per step; elsewhere a word-at-a-time test does 8. */
#ifndef MBX_SCAN_H
#define MBX_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>

static inline size_t mbx_plain_text_run(const unsigned char *p, size_t n)
{
    const __m128i bound = _mm_set1_epi8(0x20);
    const __m128i tab = _mm_set1_epi8(0x09), lf = _mm_set1_epi8(0x0A);
    const __m128i lt = _mm_set1_epi8('<'), amp = _mm_set1_epi8('&'), rsqb = _mm_set1_epi8(']');
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        /* signed compare: true below 0x20 and for 0x80..0xFF */
        __m128i control = _mm_cmplt_epi8(v, bound);
        control = _mm_andnot_si128(_mm_or_si128(_mm_cmpeq_epi8(v, tab), _mm_cmpeq_epi8(v, lf)), control);
        __m128i markup = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, lt), _mm_cmpeq_epi8(v, amp)),
                                      _mm_cmpeq_epi8(v, rsqb));
        int mask = _mm_movemask_epi8(_mm_or_si128(control, markup));
        if (mask)
            return i + (size_t)__builtin_ctz((unsigned)mask);
    }
    return i;
}

#else

static inline size_t mbx_plain_text_run(const unsigned char *p, size_t n)
{
    const uint64_t high = 0x8080808080808080ULL, ones = 0x0101010101010101ULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w, x, special;
        memcpy(&w, p + i, 8);
        special = w & high;
        special |= (w - 0x20 * ones) & ~w & high;
        x = w ^ ('<' * ones); special |= (x - ones) & ~x & high;
        x = w ^ ('&' * ones); special |= (x - ones) & ~x & high;
        x = w ^ (']' * ones); special |= (x - ones) & ~x & high;
        if (special)
            return i; /* the byte-wise loop finds which one (tab or LF may be false alarms) */
    }
    return i;
}

#endif
#endif
