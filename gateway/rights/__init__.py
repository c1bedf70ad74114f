"""The rights register: the privacy desk's record of customers' paragraph-6 requests —
disclosure, correction, stop of use, deletion — from receipt to answer, with what was done and,
for removals, which resellers confirmed."""
