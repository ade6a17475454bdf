// Entry point of the tollgate binary; the commands live in app/cli.h.
#include "app/cli.h"

int main(int argc, char** argv) {
  return tollgate::app::runCli(argc, argv);
}
