"""Removal events: a customer's paragraph-6 rights carried to every reseller that received
the customer's data, as RFC 8417 Security Event Tokens delivered by RFC 8936 poll."""
