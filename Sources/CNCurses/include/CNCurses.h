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
#include <stdio.h>
#include <signal.h>
#include <unistd.h>
#include <langinfo.h>
#include <string.h>
#include <sys/ioctl.h>

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
/// nl_langinfo(CODESET) is "UTF-8" (call after ipsectop_setlocale).
static inline int ipsectop_locale_is_utf8(void) {
    const char *cs = nl_langinfo(CODESET);
    return cs != NULL && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0);
}
/// Starts curses on the controlling terminal without exiting on failure (unlike initscr).
/// Returns 0 on success, -1 when TERM is unknown.
static inline int ipsectop_start(void) {
    SCREEN *s = newterm(NULL, stdout, stdin);
    if (s == NULL) return -1;
    set_term(s);
    cbreak();
    noecho();
    nonl();
    intrflush(stdscr, FALSE);
    keypad(stdscr, TRUE);
    curs_set(0);
    set_escdelay(25);
    leaveok(stdscr, TRUE);
    return 0;
}
/// endwin() unless already ended: safe to call twice and from the exit paths below.
static inline void ipsectop_restore(void) {
    if (stdscr != NULL && !isendwin()) {
        curs_set(1);
        endwin();
    }
    fflush(stdout);
}
/// Fatal-signal handler: restore the terminal, then die of the same signal.
static inline void ipsectop_fatal_signal(int sig) {
    ipsectop_restore();
    signal(sig, SIG_DFL);
    raise(sig);
}
/// The pending stop request (a signal number, 0 for none).
static inline volatile sig_atomic_t *ipsectop_stop_request(void) {
    static volatile sig_atomic_t pending = 0;
    return &pending;
}
/// SIGINT/SIGTERM/SIGHUP handler: the first one asks the main loop to quit (poll returns
/// EINTR, the loop reads input and gets a quit command); a second one before the loop
/// noticed restores the terminal and dies of the signal.
static inline void ipsectop_stop_signal(int sig) {
    volatile sig_atomic_t *p = ipsectop_stop_request();
    if (*p != 0) { ipsectop_fatal_signal(sig); return; }
    *p = sig;
}
/// Returns and clears the pending stop request (0 when none).
static inline int ipsectop_take_stop_request(void) {
    volatile sig_atomic_t *p = ipsectop_stop_request();
    int v = (int)*p;
    *p = 0;
    return v;
}
/// Installs ipsectop_stop_signal for SIGINT, SIGTERM and SIGHUP (no SA_RESTART, so poll is
/// interrupted), ipsectop_fatal_signal for SIGQUIT and the crash signals (SEGV, BUS, ILL,
/// FPE, ABRT, TRAP), plus an atexit() restore.
static inline void ipsectop_install_restore_handlers(void) {
    static const int stops[] = { SIGINT, SIGTERM, SIGHUP };
    static const int fatal[] = { SIGQUIT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP };
    for (unsigned i = 0; i < sizeof(stops) / sizeof(stops[0]); i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = ipsectop_stop_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(stops[i], &sa, NULL);
    }
    for (unsigned i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = ipsectop_fatal_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND;
        sigaction(fatal[i], &sa, NULL);
    }
    atexit(ipsectop_restore);
}
/// Gives SIGINT, SIGTERM and SIGHUP back their default action (after the dashboard ends).
static inline void ipsectop_reset_stop_handlers(void) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
}
/// Starts colours with the terminal's default colours available as -1. Returns COLORS (0 without colour).
static inline int ipsectop_start_color(void) {
    if (!has_colors()) return 0;
    if (start_color() != OK) return 0;
    use_default_colors();
    return COLORS;
}
/// init_pair with -1 meaning the terminal default.
static inline int ipsectop_init_pair(int pair, int fg, int bg) { return init_pair((short)pair, (short)fg, (short)bg); }
/// Reads one key with a timeout (ms; 0 = poll, -1 = block). Returns -1 on timeout,
/// 0 with a character in *ch, or 1 with a KEY_* code in *ch.
static inline int ipsectop_read_key(int timeout_ms, unsigned *ch) {
    wint_t w = 0;
    timeout(timeout_ms);
    int r = get_wch(&w);
    if (r == ERR) return -1;
    *ch = (unsigned)w;
    return r == KEY_CODE_YES ? 1 : 0;
}
/// Moves the cursor and shows it (filter prompt) or hides it (x < 0).
static inline void ipsectop_cursor(int y, int x) {
    if (x < 0) { leaveok(stdscr, TRUE); curs_set(0); return; }
    leaveok(stdscr, FALSE);
    curs_set(1);
    move(y, x);
}
/// Clears the screen on the next refresh (after resize or Ctrl-L).
static inline void ipsectop_clear(void) { clearok(stdscr, TRUE); erase(); }
/// wnoutrefresh(stdscr) + doupdate().
static inline void ipsectop_refresh(void) { refresh(); }
/// Size after a resize.
static inline void ipsectop_size(int *cols, int *rows) { getmaxyx(stdscr, *rows, *cols); }
/// A_NORMAL
static inline attr_t ipsectop_a_normal(void) { return A_NORMAL; }
/// Re-reads the window size from the terminal (TIOCGWINSZ) and resizes curses when it
/// changed, for loops that receive SIGWINCH themselves (signalfd). Returns 1 when resized.
static inline int ipsectop_resize_from_tty(void) {
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0 || ws.ws_col == 0) return 0;
    if (!is_term_resized(ws.ws_row, ws.ws_col)) return 0;
    resize_term(ws.ws_row, ws.ws_col);
    return 1;
}
#endif
