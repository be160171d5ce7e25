"""Teaching tools built on mixnb: the tutorial site (``tutorials``) and course assignments
(``assignments``). Nothing in the statistics imports them."""
