// deps: src/parse/sentence.c
/* Sentence boundaries on streamed text: terminators, closers, abbreviations
 * and initials, decimals, ellipses, CJK, newlines, min_len merging and
 * max_len cuts on UTF-8 boundaries. */
#include "parse/sentence.h"
#include "t.h"

static size_t nx(const char *s, bool final, size_t min_len, size_t max_len)
{
    return sentence_next(s, strlen(s), final, min_len, max_len);
}

/* The first sentence of s is exactly want (s streamed, not final). */
static bool first(const char *s, const char *want)
{
    size_t got = nx(s, false, 0, 0);
    bool ok = got == strlen(want) && memcmp(s, want, got) == 0;
    if (!ok)
        fprintf(stderr, "  \"%s\": got %zu \"%.*s\", want \"%s\"\n", s, got, (int)got, s, want);
    return ok;
}

static void test_basic(void)
{
    CHECK(first("Hello world. How are", "Hello world. "));
    CHECK(first("Hello world.   How", "Hello world.   "));
    CHECK(first("Really?! Yes", "Really?! "));
    CHECK(first("Stop! Now", "Stop! "));
    CHECK(first("Why? Because", "Why? "));
    CHECK(first("Wait... what? Yes", "Wait... "));
    CHECK(first("Well\xE2\x80\xA6 maybe. Yes", "Well\xE2\x80\xA6 "));
    CHECK(first("Hm?\xE2\x80\xA6 ok", "Hm?\xE2\x80\xA6 "));
    CHECK(first("He said \"Stop!\" Then", "He said \"Stop!\" "));
    CHECK(first("(It works.) Then", "(It works.) "));
    CHECK(first("\xE2\x80\x9CHi.\xE2\x80\x9D Next", "\xE2\x80\x9CHi.\xE2\x80\x9D "));
    CHECK(first("\xC2\xABOui.\xC2\xBB Non", "\xC2\xABOui.\xC2\xBB "));
    CHECK(first("Tab.\tNext", "Tab.\t"));
    CHECK(first("End.\r\nNext", "End.\r\n"));
    CHECK(nx("Hello world.", false, 0, 0) == 0); /* a space may still come */
    CHECK(nx("Hello world.", true, 0, 0) == 12);
    CHECK(nx("He said \"Stop!\"", false, 0, 0) == 0);
    CHECK(nx("He said \"Stop!\"", true, 0, 0) == 15);
    CHECK(nx("Hello.World and more", false, 0, 0) == 0);
    CHECK(nx("Hello.  ", true, 0, 0) == 8);
    CHECK(nx("no boundary", true, 0, 0) == 11);
    CHECK(nx("no boundary", false, 0, 0) == 0);
    CHECK(nx("", true, 0, 0) == 0);
    CHECK(sentence_next(NULL, 0, true, 0, 0) == 0);
    CHECK(nx("   ", true, 0, 0) == 3); /* final: the rest, untrimmed */
}

static void test_abbrev(void)
{
    CHECK(first("Dr. Smith is here. Next", "Dr. Smith is here. "));
    CHECK(first("Ask dr. Who now. X", "Ask dr. Who now. "));
    CHECK(first("Mr. and Mrs. Smith left. X", "Mr. and Mrs. Smith left. "));
    CHECK(first("Ms. Li and Prof. Xu met. X", "Ms. Li and Prof. Xu met. "));
    CHECK(first("Sam Sr. and Sam Jr. came. X", "Sam Sr. and Sam Jr. came. "));
    CHECK(first("St. Louis it is. X", "St. Louis it is. "));
    CHECK(first("Cats vs. dogs, etc. are fine. X", "Cats vs. dogs, etc. are fine. "));
    CHECK(first("Fruit, e.g. apples. X", "Fruit, e.g. apples. "));
    CHECK(first("One, i.e. this. X", "One, i.e. this. "));
    CHECK(first("Use E.G. caps. X", "Use E.G. caps. "));
    CHECK(first("(Dr. Who) is on. X", "(Dr. Who) is on. "));
    CHECK(first("The U.S. is big. Yes", "The U.S. is big. "));
    CHECK(first("J. K. Rowling wrote. Yes", "J. K. Rowling wrote. "));
    CHECK(first("A Ph.D. student left. X", "A Ph.D. student left. "));
    /* not abbreviations */
    CHECK(first("So did I. Then", "So did I. "));
    CHECK(first("I saw xMr. Then", "I saw xMr. "));
    CHECK(first("Add the drs. Then", "Add the drs. "));
    CHECK(first("Go to B2. Then", "Go to B2. "));
    CHECK(first("It is Mr! Then", "It is Mr! "));  /* only '.' is an abbreviation dot */
    CHECK(first("Wait Dr... no. X", "Wait Dr... ")); /* a run of dots ends it */
    CHECK(first("Caf\xC3\xA9Mr. X", "Caf\xC3\xA9Mr. "));
}

static void test_numbers(void)
{
    CHECK(first("Pi is 3.14 today. Yes", "Pi is 3.14 today. "));
    CHECK(first("It costs $3.50. Ok", "It costs $3.50. "));
    CHECK(first("Version 1.2.3 is out. X", "Version 1.2.3 is out. "));
    CHECK(nx("3.14", false, 0, 0) == 0);
    CHECK(nx("3.", false, 0, 0) == 0);
    CHECK(nx("3.14", true, 0, 0) == 4);
}

static void test_newline(void)
{
    CHECK(first("Line one\nLine two", "Line one\n"));
    CHECK(first("Line one\n\n  Line two", "Line one\n\n  "));
    CHECK(first("\n\nHello\nX", "\n\nHello\n"));
    CHECK(first("- item\n", "- item\n")); /* a newline is final at once */
    CHECK(nx("\n\n", false, 0, 0) == 0);
    CHECK(nx(" \n \n", true, 0, 0) == 4);
}

static void test_cjk(void)
{
    const char *s = "\xE4\xBD\xA0\xE5\xA5\xBD\xE3\x80\x82\xE6\x88\x91\xE5\xBE\x88\xE5\xA5\xBD"
                    "\xE3\x80\x82"; /* 你好。我很好。 */
    CHECK(nx(s, false, 0, 0) == 9);
    CHECK(sentence_next(s + 9, strlen(s + 9), false, 0, 0) == 0);
    CHECK(sentence_next(s + 9, strlen(s + 9), true, 0, 0) == 12);
    CHECK(first("\xE5\xA5\xBD\xEF\xBC\x81\xE5\x97\xAF", "\xE5\xA5\xBD\xEF\xBC\x81")); /* 好！嗯 */
    CHECK(first("\xE5\x90\x97\xEF\xBC\x9F\xE3\x80\x8D\xE6\x98\xAF", /* 吗？」是 */
                "\xE5\x90\x97\xEF\xBC\x9F\xE3\x80\x8D"));
    CHECK(first("\xE5\xA5\xBD\xE3\x80\x82 \xE6\x98\xAF", "\xE5\xA5\xBD\xE3\x80\x82 "));
    /* no terminator: cut at max_len moved back to a character start */
    const char *t = "\xE4\xBD\xA0\xE5\xA5\xBD\xE4\xBD\xA0\xE5\xA5\xBD\xE4\xBD\xA0\xE5\xA5\xBD";
    CHECK(nx(t, false, 0, 10) == 9);
    CHECK(nx(t, false, 0, 9) == 9);
    CHECK(nx(t, false, 0, 8) == 6);
    CHECK(nx(t, true, 0, 100) == 18);
    CHECK(nx(t, false, 0, 100) == 0);
    /* a partial character at the end is never part of a cut */
    CHECK(sentence_next(t, 5, false, 0, 4) == 3);
    CHECK(sentence_next(t, 5, true, 0, 0) == 5); /* final: everything */
}

static void test_min_len(void)
{
    CHECK(nx("Hi. How are you? Fine", false, 10, 0) == 17);
    CHECK(nx("Hi. How are you? Fine", false, 4, 0) == 4);
    CHECK(nx("Hi. How are you? Fine", false, 5, 0) == 17);
    CHECK(nx("Hi. Yo", false, 10, 0) == 0);
    CHECK(nx("Hi. Yo", true, 10, 0) == 6);
    CHECK(nx("Hi. Yo. ", true, 10, 0) == 8);
    /* merging stops at max_len: the short sentence goes alone */
    CHECK(nx("Hi. aaaaaaaaaaaaaaaaaaaa", false, 10, 12) == 4);
    CHECK(nx("Hi. aaaaaaaaaaaaaaaaaaaa. b", false, 10, 12) == 4);
    CHECK(nx("Hi. aaaaaaa", false, 10, 12) == 0);
}

static void test_max_len(void)
{
    CHECK(nx("aaaa bbbb cccc dddd", false, 0, 12) == 10);
    CHECK(nx("aaaa bbbb cccc dddd", true, 0, 12) == 10);
    CHECK(nx("aaaa bbbb cccc dddd", true, 0, 19) == 19);
    CHECK(nx("aaaa bbbb cccc", false, 0, 14) == 0); /* len == max: wait */
    CHECK(nx("aaaa bbbb cccc ", false, 0, 14) == 10);
    CHECK(nx("aaaa bbbbbbbb. c", false, 0, 10) == 5); /* boundary past max */
    CHECK(nx("Hello there.", false, 0, 12) == 0);
    CHECK(nx("Hello there. X", false, 0, 12) == 12); /* whitespace capped */
    CHECK(nx("Hello there.   X", false, 0, 13) == 13);
    CHECK(nx("aaaaaaaaaaaaaaa", false, 0, 10) == 10);
    CHECK(nx("   aaaaaaaaaaaaaaa", false, 0, 10) == 10); /* leading blanks only */
    CHECK(nx("                ", false, 0, 10) == 10);
    CHECK(nx("abc\xE2\x82\xAC", false, 0, 4) == 3);
    CHECK(nx("\xE2\x82\xAC\xE2\x82\xAC", false, 0, 1) == 3); /* max_len acts as 4 */
    CHECK(nx("\xF0\x9F\x98\x80\xF0\x9F\x98\x80", false, 0, 3) == 4);
    CHECK(nx("ab \xF0\x9F\x98\x80\xF0\x9F\x98\x80", false, 0, 6) == 3);
}

/* Streaming: feeding a text byte by byte and cutting whenever a sentence is
 * ready gives back the original, in sentences no longer than max_len. */
static void test_stream(void)
{
    const char *text = "Dr. Smith arrived at 3.30 today. \xE2\x80\x9CHello!\xE2\x80\x9D he "
                       "said\xE2\x80\xA6 Then: the U.S. team won.\n\xE4\xBD\xA0\xE5\xA5\xBD"
                       "\xE3\x80\x82" "Done";
    size_t n = strlen(text), start = 0, pieces = 0;
    char out[256];
    size_t outn = 0;
    for (size_t avail = 1; avail <= n; avail++) {
        bool final = avail == n;
        for (;;) {
            size_t k = sentence_next(text + start, avail - start, final, 0, 40);
            if (k == 0)
                break;
            CHECK(k <= 40 && start + k <= avail);
            memcpy(out + outn, text + start, k);
            outn += k;
            start += k;
            pieces++;
        }
    }
    CHECK(outn == n && memcmp(out, text, n) == 0);
    CHECK(pieces == 6);
}

int main(void)
{
    test_basic();
    test_abbrev();
    test_numbers();
    test_newline();
    test_cjk();
    test_min_len();
    test_max_len();
    test_stream();
    return T_DONE();
}
