"""Resellers (販売代理店) and their NDAs with the company."""
