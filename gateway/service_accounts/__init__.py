"""Service accounts (服务号): followers, fan CRM tags and segments, messages and tag-wide sends."""
