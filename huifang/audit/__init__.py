"""The audit log: who did what to which record, append-only and hash-chained (DESIGN.md
invariant 9). Every app records through ``huifang.audit.services.record``."""
