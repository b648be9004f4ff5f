#include <cstdio>
int main() { std::puts("moat (bootstrapping)"); return 0; }
