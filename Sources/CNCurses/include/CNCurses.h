// ncursesw for Swift. Globals such as stdscr and macros such as COLOR_PAIR
// are reached only through these prefixed functions.
#ifndef IPSECTOP_CNCURSES_H
#define IPSECTOP_CNCURSES_H

#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#include <ncursesw/curses.h>
#include <locale.h>
#include <wchar.h>
#include <stdlib.h>

/// stdscr
static inline WINDOW *ipsectop_stdscr(void) { return stdscr; }
/// COLS
static inline int ipsectop_cols(void) { return COLS; }
/// LINES
static inline int ipsectop_lines(void) { return LINES; }
/// COLORS
static inline int ipsectop_colors(void) { return COLORS; }
/// COLOR_PAIRS
static inline int ipsectop_color_pairs(void) { return COLOR_PAIRS; }
/// COLOR_PAIR(n)
static inline attr_t ipsectop_color_pair(int n) { return (attr_t)COLOR_PAIR(n); }
/// A_BOLD
static inline attr_t ipsectop_a_bold(void) { return A_BOLD; }
/// A_UNDERLINE
static inline attr_t ipsectop_a_underline(void) { return A_UNDERLINE; }
/// A_REVERSE
static inline attr_t ipsectop_a_reverse(void) { return A_REVERSE; }
/// A_DIM
static inline attr_t ipsectop_a_dim(void) { return A_DIM; }
/// KEY_RESIZE and friends
static inline int ipsectop_key_resize(void) { return KEY_RESIZE; }
static inline int ipsectop_key_up(void) { return KEY_UP; }
static inline int ipsectop_key_down(void) { return KEY_DOWN; }
static inline int ipsectop_key_left(void) { return KEY_LEFT; }
static inline int ipsectop_key_right(void) { return KEY_RIGHT; }
static inline int ipsectop_key_npage(void) { return KEY_NPAGE; }
static inline int ipsectop_key_ppage(void) { return KEY_PPAGE; }
static inline int ipsectop_key_home(void) { return KEY_HOME; }
static inline int ipsectop_key_end(void) { return KEY_END; }
static inline int ipsectop_key_enter(void) { return KEY_ENTER; }
static inline int ipsectop_key_backspace(void) { return KEY_BACKSPACE; }
static inline int ipsectop_key_btab(void) { return KEY_BTAB; }
static inline int ipsectop_key_mouse(void) { return KEY_MOUSE; }
static inline int ipsectop_key_f(int n) { return KEY_F(n); }
/// ERR / OK
static inline int ipsectop_err(void) { return ERR; }

/// Reads one mouse event; returns 1 on a button-1 click with its position.
static inline int ipsectop_mouse_click(int *x, int *y) {
    MEVENT ev;
    if (getmouse(&ev) != OK) return 0;
    if (ev.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON1_RELEASED)) {
        *x = ev.x; *y = ev.y; return 1;
    }
    if (ev.bstate & BUTTON4_PRESSED) { *x = ev.x; *y = ev.y; return 4; }
#ifdef BUTTON5_PRESSED
    if (ev.bstate & BUTTON5_PRESSED) { *x = ev.x; *y = ev.y; return 5; }
#endif
    return 0;
}
/// Enables button clicks and the wheel.
static inline void ipsectop_enable_mouse(void) {
    mousemask(BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON4_PRESSED
#ifdef BUTTON5_PRESSED
              | BUTTON5_PRESSED
#endif
              , NULL);
    mouseinterval(0);
}
/// Draws one UTF-8 string at (y, x) with attributes and colour pair.
static inline void ipsectop_put(int y, int x, const char *utf8, attr_t attrs, short pair) {
    attr_set(attrs, pair, NULL);
    mvaddstr(y, x, utf8);
}
/// Sets the locale from the environment (for UTF-8 output).
static inline void ipsectop_setlocale(void) { setlocale(LC_ALL, ""); }
#endif
