// restrict-address-families FAMILY[,FAMILY...] -- COMMAND [ARG...]
//
// Runs COMMAND under a seccomp filter that refuses socket(2) and socketpair(2) for every address
// family not listed, with EAFNOSUPPORT: what systemd's RestrictAddressFamilies= does to a unit
// (systemd.exec(5)). Tests use it to run the edge under the restriction the shipped unit sets.
// Families: AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET. x86-64 and aarch64 only (both have
// direct socket syscalls); any other architecture is refused with an error before exec.

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "restrict-address-families supports x86-64 and aarch64"
#endif

#define MAX_FAMILIES 8

static const struct {
  const char *name;
  int family;
} known[] = {
    {"AF_UNIX", AF_UNIX},     {"AF_INET", AF_INET},     {"AF_INET6", AF_INET6},
    {"AF_NETLINK", AF_NETLINK}, {"AF_PACKET", AF_PACKET},
};

static int family_of(const char *name) {
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (strcmp(known[i].name, name) == 0) return known[i].family;
  return -1;
}

int main(int argc, char **argv) {
  if (argc < 4 || strcmp(argv[2], "--") != 0) {
    fprintf(stderr, "usage: %s FAMILY[,FAMILY...] -- COMMAND [ARG...]\n", argv[0]);
    return 2;
  }
  int allowed[MAX_FAMILIES];
  int n = 0;
  char *list = strdup(argv[1]);
  for (char *tok = strtok(list, ","); tok != NULL; tok = strtok(NULL, ",")) {
    int f = family_of(tok);
    if (f < 0 || n == MAX_FAMILIES) {
      fprintf(stderr, "restrict-address-families: unknown or too many families at %s\n", tok);
      return 2;
    }
    allowed[n++] = f;
  }
  free(list);

  // Program: wrong architecture → kill; not socket/socketpair → allow; family (args[0], an int)
  // in the list → allow; else → EAFNOSUPPORT.
  struct sock_filter prog[8 + MAX_FAMILIES];
  size_t len = 0;
  prog[len++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  prog[len++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0);
  prog[len++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  prog[len++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
  // Two syscalls to match: jump to the family checks on either, else allow.
  prog[len++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 2, 0);
  prog[len++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socketpair, 1, 0);
  prog[len++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  prog[len++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
  for (int i = 0; i < n; i++) {
    // Equal → skip to the ALLOW after the final ERRNO; else fall through to the next check.
    unsigned char to_allow = (unsigned char)(n - i);
    prog[len++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)allowed[i], to_allow, 0);
  }
  prog[len++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EAFNOSUPPORT & SECCOMP_RET_DATA));
  prog[len++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);

  struct sock_fprog fprog = {.len = (unsigned short)len, .filter = prog};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    perror("restrict-address-families: PR_SET_NO_NEW_PRIVS");
    return 1;
  }
  if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) {
    perror("restrict-address-families: seccomp");
    return 1;
  }
  execvp(argv[3], &argv[3]);
  perror("restrict-address-families: exec");
  return 127;
}
