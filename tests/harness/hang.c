/*
 * A program that never finishes, for the test of harness/run-test.sh.
 *
 * It blocks (without spinning) in a function with a name nobody else uses, so the
 * harness test can check that the backtrace printed on timeout really came from this
 * process: the name must appear in gdb's "thread apply all bt" output. The arguments
 * are ignored; the harness test passes a unique token so it can find its own
 * processes with ps afterwards.
 */
#include <stdio.h>
#include <unistd.h>

/* noinline: keep a frame with this name even at -O2. */
__attribute__((noinline)) static void hang_in_recognisable_function(void)
{
    for (;;) {
        pause(); /* returns only when a signal handler ran; there are none */
    }
}

int main(void)
{
    printf("hang: pid %ld blocking forever\n", (long)getpid());
    fflush(stdout);
    hang_in_recognisable_function();
    return 0;
}
