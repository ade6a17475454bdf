// Entry point of the tollgate binary; everything lives in app/cli.h.
int main(int argc, char** argv) { return 0; }
