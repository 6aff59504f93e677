/* ---- runtime: the same in every generated tokenizer.c (edgedistil/export/c_tokenizer_runtime.c).
 *
 * The Hugging Face fast tokenizer's steps, in its order, one code point at a time:
 *   special tokens matched in the raw text (its added tokens, normalized=false)
 *   -> UTF-8 decoding (an invalid byte sequence becomes U+FFFD, as Python's
 *      bytes.decode("utf-8", errors="replace") does: the maximal subpart of an ill-formed
 *      sequence is one U+FFFD; an ASCII byte is never swallowed)
 *   -> BertNormalizer: clean_text (U+0000, U+FFFD and control/format/private-use code points
 *      dropped, whitespace -> ' '), Chinese characters padded with spaces, NFD then non-spacing
 *      marks dropped, lower-casing
 *   -> BertPreTokenizer: split on whitespace, every punctuation character a word of its own
 *   -> WordPiece: longest piece first, "##" pieces after the first, a word longer than
 *      EDT_MAX_CHARS characters or with a part no piece matches is one [UNK]
 *   -> [CLS] ... [SEP], truncated to max_len, padded with [PAD]; mask 1 on real tokens.
 * No heap and no C library (freestanding: <stddef.h> and <stdint.h> only): the word being
 * built lives in the state below, on the caller's stack. */

typedef struct {
    int32_t *ids;       /* the caller's buffer; ids[0] is [CLS] */
    size_t cap;         /* the last index a word piece may take (max_len - 1: [SEP] after it) */
    size_t n;           /* ids written so far, [CLS] included */
    uint8_t word[EDT_MAX_CHARS * 4];
    size_t wbytes;      /* bytes of word stored */
    size_t wchars;      /* characters of the word seen (more than EDT_MAX_CHARS: [UNK]) */
} edt_state;

/* The EDT_* bits of a code point: a run holds (first code point << 4) | bits up to the next. */
static unsigned edt_class(uint32_t cp) {
    size_t lo = 0, hi = sizeof(edt_class_runs) / sizeof(edt_class_runs[0]);
    while (hi - lo > 1) { /* the last run starting at or before cp; run 0 starts at 0 */
        size_t mid = lo + (hi - lo) / 2;
        if ((edt_class_runs[mid] >> 4) <= cp) lo = mid; else hi = mid;
    }
    return edt_class_runs[lo] & 15u;
}

#if EDT_CHINESE
static int edt_is_cjk(uint32_t cp) {
    size_t i;
    for (i = 0; i < sizeof(edt_cjk) / sizeof(edt_cjk[0]); i += 2) {
        if (cp >= edt_cjk[i] && cp <= edt_cjk[i + 1]) return 1;
    }
    return 0;
}
#else
#define edt_is_cjk(cp) 0
#endif

static int edt_full(const edt_state *st) { return st->n >= st->cap; }

static void edt_push(edt_state *st, int32_t id) {
    if (!edt_full(st)) st->ids[st->n++] = id;
}

/* -1 when a <  b, 0 when equal, 1 when greater; a is prefix (cont ? "##" : "") + s[0..n). */
static int edt_cmp(const uint8_t *tok, size_t tlen, int cont, const uint8_t *s, size_t n) {
    size_t plen = cont ? EDT_PREFIX_LEN : 0, alen = plen + n, i;
    for (i = 0; i < alen && i < tlen; i++) {
        uint8_t a = i < plen ? (uint8_t)EDT_PREFIX[i] : s[i - plen];
        if (a != tok[i]) return a < tok[i] ? -1 : 1;
    }
    return alen < tlen ? -1 : (alen > tlen ? 1 : 0);
}

static int32_t edt_find(int cont, const uint8_t *s, size_t n) {
    size_t lo = 0, hi = EDT_VOCAB_SIZE;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t off = edt_vocab_offsets[mid];
        int c = edt_cmp(edt_vocab_blob + off, edt_vocab_offsets[mid + 1] - off, cont, s, n);
        if (c == 0) return (int32_t)edt_vocab_ids[mid];
        if (c < 0) hi = mid; else lo = mid + 1;
    }
    return -1;
}

static void edt_wordpiece(edt_state *st) {
    int32_t pieces[EDT_MAX_CHARS];
    size_t count = 0, start = 0;
    if (st->wchars > EDT_MAX_CHARS) { edt_push(st, EDT_UNK); return; }
    while (start < st->wbytes) {
        size_t end = st->wbytes;
        int32_t id = -1;
        while (end > start) {
            id = edt_find(start > 0, st->word + start, end - start);
            if (id >= 0) break;
            do { end--; } while (end > start && (st->word[end] & 0xC0u) == 0x80u);
        }
        if (id < 0) { edt_push(st, EDT_UNK); return; }
        pieces[count++] = id;
        start = end;
    }
    for (start = 0; start < count; start++) edt_push(st, pieces[start]);
}

static void edt_flush(edt_state *st) {
    if (st->wchars > 0) edt_wordpiece(st);
    st->wbytes = st->wchars = 0;
}

static size_t edt_encode(uint32_t cp, uint8_t *out) {
    if (cp < 0x80u) { out[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800u) {
        out[0] = (uint8_t)(0xC0u | (cp >> 6)); out[1] = (uint8_t)(0x80u | (cp & 0x3Fu));
        return 2;
    }
    if (cp < 0x10000u) {
        out[0] = (uint8_t)(0xE0u | (cp >> 12)); out[1] = (uint8_t)(0x80u | ((cp >> 6) & 0x3Fu));
        out[2] = (uint8_t)(0x80u | (cp & 0x3Fu));
        return 3;
    }
    out[0] = (uint8_t)(0xF0u | (cp >> 18)); out[1] = (uint8_t)(0x80u | ((cp >> 12) & 0x3Fu));
    out[2] = (uint8_t)(0x80u | ((cp >> 6) & 0x3Fu)); out[3] = (uint8_t)(0x80u | (cp & 0x3Fu));
    return 4;
}

/* BertPreTokenizer on one normalized character. */
static void edt_pretok(edt_state *st, uint32_t cp) {
    unsigned cls = edt_class(cp);
    if (cls & EDT_SPACE) { edt_flush(st); return; }
    if (cls & EDT_PUNCT) {
        edt_flush(st);
        st->wbytes = edt_encode(cp, st->word);
        st->wchars = 1;
        edt_flush(st);
        return;
    }
    if (st->wchars < EDT_MAX_CHARS) st->wbytes += edt_encode(cp, st->word + st->wbytes);
    st->wchars++;
}

#if EDT_LOWERCASE
/* Lower-casing, as Rust's char::to_lowercase: runs of code points (every one, or every other)
 * that move by the same delta; the few that become two code points in edt_lower_multi. */
static void edt_lower(edt_state *st, uint32_t cp) {
    size_t lo = 0, hi = sizeof(edt_lower_runs) / sizeof(edt_lower_runs[0]);
    for (lo = 0; lo < sizeof(edt_lower_multi) / sizeof(edt_lower_multi[0]); lo += 3) {
        if (edt_lower_multi[lo] == cp) {
            edt_pretok(st, edt_lower_multi[lo + 1]);
            edt_pretok(st, edt_lower_multi[lo + 2]);
            return;
        }
    }
    lo = 0;
    while (lo < hi) { /* the last run starting at or before cp */
        size_t mid = lo + (hi - lo) / 2;
        if ((edt_lower_runs[mid] & 0x1FFFFFu) <= cp) lo = mid + 1; else hi = mid;
    }
    if (lo > 0) {
        uint32_t run = edt_lower_runs[lo - 1], first = run & 0x1FFFFFu;
        uint32_t stride = ((run >> 21) & 1u) + 1u, count = run >> 22;
        if ((cp - first) % stride == 0 && (cp - first) / stride < count) {
            cp = (uint32_t)((int32_t)cp + edt_lower_deltas[lo - 1]);
        }
    }
    edt_pretok(st, cp);
}
#else
#define edt_lower edt_pretok
#endif

#if EDT_STRIP_ACCENTS
/* NFD, then non-spacing marks dropped: a mark is dropped whole (EDT_MN), a precomposed
 * character becomes what is left of its decomposition (edt_strip16_* for one BMP character,
 * edt_strip_* for the rest), Hangul by arithmetic. */
static void edt_strip(edt_state *st, uint32_t cp) {
    size_t lo = 0, hi = sizeof(edt_strip_keys) / sizeof(edt_strip_keys[0]);
    if (edt_class(cp) & EDT_MN) return;
    if (cp >= 0xAC00u && cp <= 0xD7A3u) { /* Hangul syllables: NFD by arithmetic */
        uint32_t s = cp - 0xAC00u;
        edt_lower(st, 0x1100u + s / 588u);
        edt_lower(st, 0x1161u + (s % 588u) / 28u);
        if (s % 28u) edt_lower(st, 0x11A7u + s % 28u);
        return;
    }
    if (cp < 0x10000u) {
        hi = sizeof(edt_strip16_keys) / sizeof(edt_strip16_keys[0]);
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (edt_strip16_keys[mid] < cp) lo = mid + 1; else hi = mid;
        }
        if (lo < sizeof(edt_strip16_keys) / sizeof(edt_strip16_keys[0]) && edt_strip16_keys[lo] == cp) {
            edt_lower(st, edt_strip16_vals[lo]);
            return;
        }
        lo = 0;
        hi = sizeof(edt_strip_keys) / sizeof(edt_strip_keys[0]);
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (edt_strip_keys[mid] < cp) lo = mid + 1; else hi = mid;
    }
    if (lo < sizeof(edt_strip_keys) / sizeof(edt_strip_keys[0]) && edt_strip_keys[lo] == cp) {
        uint32_t v = edt_strip_vals[lo], i;
        for (i = 0; i < (v & 7u); i++) edt_lower(st, edt_strip_pool[(v >> 3) + i]);
        return;
    }
    edt_lower(st, cp);
}
#else
#define edt_strip edt_lower
#endif

/* BertNormalizer on one decoded code point. */
static void edt_normalize(edt_state *st, uint32_t cp) {
    unsigned cls = edt_class(cp);
    if (cls & EDT_DROP) return;
    if (cls & EDT_SPACE) { edt_pretok(st, 0x20u); return; }
    if (edt_is_cjk(cp)) {
        edt_flush(st);
        edt_strip(st, cp);
        edt_flush(st);
        return;
    }
    edt_strip(st, cp);
}

/* One code point from s[*i..n); an ill-formed sequence is U+FFFD and consumes its maximal
 * subpart (Unicode's "best practice", which CPython's decoder follows). */
static uint32_t edt_decode(const uint8_t *s, size_t n, size_t *i) {
    uint8_t b = s[*i];
    uint32_t cp, lo = 0x80u, hi = 0xBFu;
    size_t need, k;
    (*i)++;
    if (b < 0x80u) return b;
    if (b >= 0xC2u && b <= 0xDFu) { need = 1; cp = b & 0x1Fu; }
    else if (b >= 0xE0u && b <= 0xEFu) {
        need = 2; cp = b & 0x0Fu;
        if (b == 0xE0u) lo = 0xA0u;
        if (b == 0xEDu) hi = 0x9Fu;
    } else if (b >= 0xF0u && b <= 0xF4u) {
        need = 3; cp = b & 0x07u;
        if (b == 0xF0u) lo = 0x90u;
        if (b == 0xF4u) hi = 0x8Fu;
    } else return 0xFFFDu;
    for (k = 0; k < need; k++) {
        if (*i >= n || s[*i] < lo || s[*i] > hi) return 0xFFFDu;
        cp = (cp << 6) | (s[*i] & 0x3Fu);
        (*i)++;
        lo = 0x80u; hi = 0xBFu;
    }
    return cp;
}

/* The longest special token spelled at s (the tokenizer's added tokens are matched in the raw
 * text, before normalization); 0 when none is. */
static size_t edt_special(const uint8_t *s, size_t n, int32_t *id) {
    size_t k, best = 0;
    for (k = 0; k < EDT_SPECIAL_COUNT; k++) {
        const char *t = edt_special_text[k];
        size_t len = 0;
        while (t[len] != '\0' && len < n && s[len] == (uint8_t)t[len]) len++;
        if (t[len] == '\0' && len > best) {
            best = len;
            *id = edt_special_ids[k];
        }
    }
    return best;
}

size_t edt_tokenize(const char *text, size_t len, int32_t *ids, int32_t *mask, size_t max_len) {
    const uint8_t *s = (const uint8_t *)text;
    edt_state st;
    size_t i = 0, k;
    if (max_len < 2) return 0;
    st.ids = ids; st.cap = max_len - 1; st.n = 0; st.wbytes = 0; st.wchars = 0;
    ids[st.n++] = EDT_CLS;
    while (i < len && !edt_full(&st)) {
        int32_t id = 0;
        size_t m = edt_special(s + i, len - i, &id);
        if (m > 0) { edt_flush(&st); edt_push(&st, id); i += m; continue; }
        edt_normalize(&st, edt_decode(s, len, &i));
    }
    edt_flush(&st);
    ids[st.n++] = EDT_SEP;
    for (k = 0; k < max_len; k++) {
        if (k >= st.n) ids[k] = EDT_PAD;
        mask[k] = k < st.n ? 1 : 0;
    }
    return st.n;
}
