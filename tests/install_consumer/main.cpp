// Sends one typed message through an inproc pipeline using only the
// installed headers and library; prints "ok <value>" on success.
#include <courier/courier.hpp>

#include <iostream>

int main() {
  courier::Pull<std::string> pull;
  pull.bind("inproc://install-check");
  courier::Push<std::string> push;
  push.connect("inproc://install-check");
  push.send(std::string("installed"));
  auto got = pull.receive(std::chrono::seconds(5));
  if (!got) return 1;
  std::cout << "ok " << *got << std::endl;
  return 0;
}
