"""media: inbound media fetch jobs and stored media files

Revision ID: 0003_media
Revises: 0002
Create Date: 2026-12-02 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import carewindow.storage.tables


revision: str = '0003_media'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('media',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('message_id', sa.String(length=40), nullable=True),
    sa.Column('contact_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('meta_media_id', sa.String(length=128), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('mime_type', sa.String(length=255), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('meta_sha256', sa.String(length=128), nullable=True),
    sa.Column('filename', sa.String(length=512), nullable=True),
    sa.Column('storage_key', sa.String(length=512), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', carewindow.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('give_up_at', carewindow.storage.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', carewindow.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', carewindow.storage.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_media_due', 'media', ['status', 'next_attempt_at'], unique=False)
    op.create_index('ix_media_message_id', 'media', ['message_id'], unique=False)
    op.create_index('ix_media_contact_id', 'media', ['contact_id'], unique=False)
    op.create_index('ix_media_meta_media_id', 'media', ['meta_media_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_media_meta_media_id', table_name='media')
    op.drop_index('ix_media_contact_id', table_name='media')
    op.drop_index('ix_media_message_id', table_name='media')
    op.drop_index('ix_media_due', table_name='media')
    op.drop_table('media')
