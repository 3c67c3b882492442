"""A creator's video carries the partner's mini-program card, and a viewer's tap is recorded.

The creator publishes a video in the platform's app; the creator-side app she authorised (here the
partner's own app) mounts the partner's mini-program on it; a viewer sees the card and taps it,
and the mini-program is opened with the source it will carry into the order (who sold what).

    ./dev serve            # in one terminal
    .venv/bin/python examples/mount_card.py

``SHIJING_BASE_URL`` points at another gateway (default: the demo issuer).
"""

from __future__ import annotations

import os
import sys

import shijing

sys.path.insert(0, os.path.dirname(__file__))
from demo_credentials import demo_data, signed_in_client  # noqa: E402


def main() -> None:
    demo = demo_data()
    base_url = os.environ.get("SHIJING_BASE_URL", demo["issuer"])
    creator, miniprogram = demo["creator"], demo["miniprogram"]
    partner = demo["partner_app"]
    creator_side = shijing.Client(base_url=base_url, client_id=partner["client_id"],
                                  client_secret=partner["client_secret"], scope="video.read miniprogram.mount public.read")
    mini_app = demo["miniprogram_app"]
    mini_backend = shijing.Client(base_url=base_url, client_id=mini_app["client_id"],
                                  client_secret=mini_app["client_secret"], scope="miniprogram.manage")

    # 1. the creator publishes a video in the platform's app
    with signed_in_client(base_url, demo, creator["username"], "platform.client") as creator_app:
        video = creator_app.creators.publish_video(title="解放碑老火锅探店：88 元代金券")
    print(f"{creator['name']} published {video.id}: {video.title}")

    # 2. the creator-side app she authorised mounts the partner's mini-program on it
    limits = {a.capability: a for a in mini_backend.mini_programs.list_capabilities(miniprogram["id"])}
    print(f"{miniprogram['name']} holds video_mount ({limits['video_mount'].status}), "
          f"{limits['video_mount'].usage.active_mounts} of {limits['video_mount'].limits.max_active_mounts} used")
    mount = creator_side.mounts.create(creator["id"], target_type="video", target_id=video.id,
                                       miniprogram_id=miniprogram["id"], path="pages/voucher/detail",
                                       query="voucher=hotpot-voucher-100", title="88 元抵 100 元代金券")
    print(f"mounted {mount.id} on {video.id}: {mount.status}")
    try:
        creator_side.mounts.create(creator["id"], target_type="video", target_id=video.id,
                                   miniprogram_id=miniprogram["id"], path="pages/index/index", title="第二张卡")
    except shijing.ConflictError as refused:
        print(f"a second card on the same video is refused ({refused.code})")

    # 3. a viewer sees the card and taps it
    card = creator_side.creators.get_public_video(video.id).mount
    print(f"the video shows the card {card.title!r} of {card.miniprogram.name}")
    with signed_in_client(base_url, demo, "alice", "platform.client") as viewer_app:
        viewer_app.mounts.record_exposure(card.mount_id)
        launch = viewer_app.mounts.record_click(card.mount_id)
    print(f"alice tapped it: open {launch.miniprogram_id} at {launch.path}?{launch.query}")
    print(f"source for the order: type={launch.source.type} id={launch.source.id} "
          f"author_id={launch.source.author_id} click_id={launch.source.click_id}")

    # 4. the mini-program sees where it is mounted
    mine = [m for m in mini_backend.mini_programs.list_mounts(miniprogram["id"], status="active") if m.id == mount.id]
    print(f"{miniprogram['name']} is mounted on {mine[0].target_type} {mine[0].target_id}")
    creator_side.mounts.unmount(creator["id"], mount.id)
    print(f"unmounted {mount.id}")
    creator_side.close()
    mini_backend.close()


if __name__ == "__main__":
    main()
