// Heap allocations made through operator new in the test executable (replaced once,
// in heap_count.cpp), for tests that a steady state allocates nothing.
#pragma once

long heap_allocations();
