"""Every text the app shows, in Chinese and English; the language follows the browser unless chosen."""

from __future__ import annotations

LANGS = ("zh", "en")

STRINGS: dict[str, dict[str, str]] = {
    "app.title": {"zh": "GLM Chat", "en": "GLM Chat"},
    "page.chat": {"zh": "对话", "en": "Chat"},
    "chat.placeholder": {"zh": "给 GLM 发消息…", "en": "Message GLM…"},
    "chat.empty": {
        "zh": "有什么可以帮你？在下方输入消息开始对话。",
        "en": "How can I help? Type a message below to start.",
    },
    "chat.thinking": {"zh": "思考过程", "en": "Thinking"},
    "chat.thinking_live": {"zh": "思考中…", "en": "Thinking…"},
    "chat.waiting": {"zh": "等待回复… {s} 秒", "en": "Waiting for the reply… {s} s"},
    "chat.retrying": {"zh": "服务繁忙，{s} 秒后重试（第 {n} 次）…", "en": "Busy, retrying in {s} s (attempt {n})…"},
    "chat.stop": {"zh": "停止生成", "en": "Stop"},
    "chat.stopped": {"zh": "⏹ 已停止生成", "en": "⏹ Stopped"},
    "side.effort": {"zh": "思考强度", "en": "Reasoning effort"},
    "side.effort_help": {
        "zh": "GLM-5.2 思考的深浅：越高越仔细，也越慢、输出越多。",
        "en": "How hard GLM-5.2 thinks: higher is more careful, slower and longer.",
    },
    "side.effort_max": {"zh": "最高（默认）", "en": "Max (default)"},
    "side.effort_high": {"zh": "高", "en": "High"},
    "side.effort_medium": {"zh": "中", "en": "Medium"},
    "side.effort_low": {"zh": "低", "en": "Low"},
    "side.effort_none": {"zh": "不思考", "en": "None"},
    "attach.note_scaled": {"zh": "已缩小为 {w}×{h}", "en": "scaled down to {w}×{h}"},
    "attach.note_reencoded": {"zh": "已重新压缩为 JPEG", "en": "re-encoded as JPEG"},
    "attach.note_scaled_reencoded": {
        "zh": "已缩小为 {w}×{h} 并重新压缩为 JPEG",
        "en": "scaled down to {w}×{h} and re-encoded as JPEG",
    },
    "chat.continue": {"zh": "继续", "en": "Continue"},
    "chat.continue_prompt": {"zh": "请从中断处继续。", "en": "Please continue from where you stopped."},
    "chat.held_back": {
        "zh": "回复还在生成，你的消息仍在输入框里：回复结束后再发送，或先点“停止生成”。",
        "en": "The reply is still being written. Your message is kept in the box: send it when the reply ends, or press Stop first.",
    },
    "chat.held_back_files": {
        "zh": "回复还在生成，你的文字仍在输入框里；发送时请重新添加附件。",
        "en": "The reply is still being written. Your text is kept in the box; attach the files again when you send it.",
    },
    "chat.incomplete": {"zh": "⚠ 回复不完整", "en": "⚠ Reply incomplete"},
    "chat.truncated": {"zh": "⚠ 已达到最大输出长度，回复被截断", "en": "⚠ Reply cut at the maximum output length"},
    "chat.copy": {"zh": "复制 Markdown", "en": "Copy Markdown"},
    "chat.copy_short": {"zh": "复制", "en": "Copy"},
    "chat.edit_short": {"zh": "编辑", "en": "Edit"},
    "chat.regenerate_short": {"zh": "重新生成", "en": "Regenerate"},
    "chat.edit": {"zh": "编辑消息", "en": "Edit message"},
    "chat.edit_send": {"zh": "保存并重新发送", "en": "Save and resend"},
    "chat.regenerate": {
        "zh": "重新生成（使用侧边栏当前选择的模型）",
        "en": "Regenerate (with the model chosen in the sidebar)",
    },
    "chat.branch_previous": {"zh": "上一个版本", "en": "Previous version"},
    "chat.branch_next": {"zh": "下一个版本", "en": "Next version"},
    "chat.not_sent": {"zh": "（较早的消息：已不再发送给模型）", "en": "(older message: no longer sent to the model)"},
    "chat.summarise": {
        "zh": "总结较早的 {n} 条消息，作为上下文继续",
        "en": "Summarise the {n} older messages and keep them as context",
    },
    "chat.summarise_retry": {"zh": "总结较早的消息后重试", "en": "Summarise older messages and retry"},
    "chat.summary": {
        "zh": "较早消息的摘要（代替原文发送给模型）",
        "en": "Summary of older messages (sent instead of them)",
    },
    "chat.summarising": {"zh": "正在总结较早的消息…", "en": "Summarising older messages…"},
    "chat.summary_failed": {"zh": "总结失败，请稍后重试。", "en": "The summary failed. Try again shortly."},
    "side.context": {
        "zh": "上下文 {used} / {window} tokens（{pct}%）",
        "en": "Context {used} / {window} tokens ({pct}%)",
    },
    "side.context_cost": {"zh": "下次输入约 ¥{v}", "en": "next input ≈ ¥{v}"},
    "side.context_trimmed": {
        "zh": "最早的 {n} 条消息超出上下文，将不再发送。",
        "en": "The {n} oldest messages no longer fit and are left out.",
    },
    "chat.sources": {"zh": "来源（{n}）", "en": "Sources ({n})"},
    "chat.show_earlier": {"zh": "显示更早的消息（还有 {n} 条）", "en": "Show earlier messages ({n} more)"},
    "chat.retry": {"zh": "重试", "en": "Retry"},
    "error.filtered": {
        "zh": "平台的内容安全过滤中止了这条回复，已显示的内容按平台要求撤回。可以换个问法或重试。",
        "en": "The platform's content filter stopped this reply, and the text already shown was withdrawn as the "
        "platform requires. Rephrase or retry.",
    },
    "usage.line": {
        "zh": "{model} · 输入 {prompt} · 输出 {completion} · 合计 {total} tokens",
        "en": "{model} · {prompt} in · {completion} out · {total} tokens",
    },
    "usage.cached": {"zh": "其中缓存 {n}", "en": "{n} cached"},
    "usage.reasoning": {"zh": "其中思考 {n}", "en": "{n} thinking"},
    "usage.ttft": {"zh": "首字 {s} 秒", "en": "first token {s} s"},
    "usage.tps": {"zh": "{v} tokens/秒", "en": "{v} tok/s"},
    "usage.cost": {"zh": "¥{v}", "en": "¥{v}"},
    "usage.cost_unknown": {"zh": "费用未知（目录中没有此模型的价格）", "en": "cost unknown (no price for this model)"},
    "usage.none": {"zh": "{model} · 接口未返回用量", "en": "{model} · the API sent no usage"},
    "side.language": {"zh": "语言 / Language", "en": "Language / 语言"},
    "side.model": {"zh": "模型", "en": "Model"},
    "side.custom_model": {"zh": "自定义模型 ID（可选）", "en": "Custom model id (optional)"},
    "side.custom_help": {
        "zh": "填写后将使用此模型 ID，例如 glm-4.7",
        "en": "When set, this model id is used, e.g. glm-4.7",
    },
    "side.temperature": {"zh": "温度 temperature", "en": "Temperature"},
    "side.top_p": {"zh": "top_p", "en": "top_p"},
    "side.max_tokens": {"zh": "最大输出 tokens", "en": "Max output tokens"},
    "side.system": {"zh": "系统提示词", "en": "System prompt"},
    "side.system_help": {"zh": "每次请求都作为第一条消息发送", "en": "Sent first with every request"},
    "side.thinking": {"zh": "深度思考", "en": "Thinking"},
    "side.thinking_help": {"zh": "关闭可更快得到回答", "en": "Turn off for faster answers"},
    "side.lang_auto": {"zh": "自动（跟随浏览器）", "en": "Auto (browser)"},
    "side.preset": {"zh": "预设", "en": "Preset"},
    "side.no_preset": {"zh": "无预设", "en": "No preset"},
    "side.preset_help": {"zh": "选择后以该系统提示词开始新对话", "en": "Starts a new chat with this system prompt"},
    "side.preset_name": {"zh": "预设名称", "en": "Preset name"},
    "side.preset_save": {"zh": "存为预设", "en": "Save as preset"},
    "side.web_search": {"zh": "联网搜索", "en": "Web search"},
    "side.web_search_help": {
        "zh": "使用智谱内置的 web_search 工具，回答附带来源",
        "en": "Uses GLM's built-in web_search tool; answers come with sources",
    },
    "side.login": {"zh": "登录", "en": "Sign in"},
    "side.logout": {"zh": "退出登录", "en": "Sign out"},
    "side.signed_in": {"zh": "已登录：{who}", "en": "Signed in as {who}"},
    "side.new_chat": {"zh": "新对话", "en": "New chat"},
    "chat.temporary": {"zh": "临时对话", "en": "Temporary chat"},
    "chat.temporary_help": {
        "zh": "临时对话不会保存：不进历史记录，不写入数据库，刷新或离开后即消失。",
        "en": "A temporary chat is never saved: no history entry, nothing in the database, gone on refresh.",
    },
    "chat.temporary_on": {"zh": "临时对话 · 不会保存", "en": "Temporary chat · not saved"},
    "side.key": {"zh": "API Key", "en": "API key"},
    "side.key_field": {"zh": "你的智谱 API Key", "en": "Your ZhipuAI API key"},
    "side.key_help": {
        "zh": "只保存在本次会话中，不会被存储或记录。",
        "en": "Kept only in this session; never stored or logged.",
    },
    "side.settings": {"zh": "设置：语言、Key、预设、参数", "en": "Settings: language, key, presets, parameters"},
    "side.search": {"zh": "搜索", "en": "Search"},
    "side.free": {"zh": "免费", "en": "free"},
    "side.needs_key": {"zh": " · 需要 API Key", "en": " · needs an API key"},
    "side.key_set": {"zh": "已使用服务器配置的 API Key。", "en": "Using the API key configured on the server."},
    "side.deprecated": {"zh": "已弃用", "en": "deprecated"},
    "side.retired": {"zh": "已停用", "en": "retired"},
    "side.retired_note": {
        "zh": "{old} 已被平台停用，本对话现在使用 {new}。",
        "en": "{old} has been retired by the platform; this chat now uses {new}.",
    },
    "usage.unknown_left_out": {
        "zh": "费用合计不含 {n} 条费用未知的回复（目录中没有其模型的价格）。",
        "en": "The cost leaves out {n} replies whose cost is unknown (no price for their model).",
        "en_one": "The cost leaves out 1 reply whose cost is unknown (no price for its model).",
    },
    "side.usage": {"zh": "本次会话用量", "en": "This session's usage"},
    "side.usage_line": {
        "zh": "请求 {n} 次 · 输入 {prompt} · 输出 {completion} tokens · ¥{cost}",
        "en": "{n} requests · {prompt} in · {completion} out tokens · ¥{cost}",
        "en_one": "1 request · {prompt} in · {completion} out tokens · ¥{cost}",
    },
    "demo.notice": {
        "zh": "离线演示：回复来自本地模拟器，不是真实的 GLM。在侧边栏填入智谱 API Key，或设置环境变量 ZHIPUAI_API_KEY，即可与真实模型对话。",
        "en": "Offline demo: replies come from a local simulator, not the real GLM. Enter a ZhipuAI API key in the sidebar, or set ZHIPUAI_API_KEY, to chat with the real models.",
    },
    "demo.offline_model": {"zh": "离线演示模型不会访问网络。", "en": "The offline demo model never uses the network."},
    "page.history": {"zh": "历史记录", "en": "History"},
    "page.usage": {"zh": "用量统计", "en": "Usage"},
    "history.search": {"zh": "搜索对话", "en": "Search conversations"},
    "history.search_hint": {"zh": "输入关键词，中英文均可", "en": "Words in Chinese or English"},
    "history.model_filter": {"zh": "模型", "en": "Model"},
    "history.all_models": {"zh": "全部模型", "en": "All models"},
    "history.dates": {"zh": "日期范围", "en": "Dates"},
    "history.count": {"zh": "共 {n} 个对话", "en": "{n} conversations", "en_one": "1 conversation"},
    "history.messages": {"zh": "{n} 条消息", "en": "{n} messages", "en_one": "1 message"},
    "history.open": {"zh": "打开", "en": "Open"},
    "history.export_all": {"zh": "导出全部（JSON）", "en": "Export all (JSON)"},
    "history.import": {"zh": "导入 JSON 导出文件", "en": "Import a JSON export"},
    "history.import_go": {"zh": "导入", "en": "Import"},
    "history.import_bad": {"zh": "无法导入：{reason}", "en": "Cannot import: {reason}"},
    "history.imported": {
        "zh": "已导入 {n} 个对话。",
        "en": "Imported {n} conversations.",
        "en_one": "Imported 1 conversation.",
    },
    "history.import_too_big": {
        "zh": "无法导入：文件太大（{size}），导入文件最大 {limit} MB。",
        "en": "Cannot import: the file is too big ({size}); an import file may be at most {limit} MB.",
    },
    "history.import_too_deep": {
        "zh": "无法导入：文件的嵌套层级太深，这不是 GLM Chat 的导出文件。",
        "en": "Cannot import: the file is nested too deeply to be a GLM Chat export.",
    },
    "history.import_file_conversations": {
        "zh": "无法导入：文件包含 {n} 个对话，而每人最多保存 {limit} 个对话。",
        "en": "Cannot import: the file holds {n} conversations, and at most {limit} can be saved per person.",
    },
    "history.import_conversations": {
        "zh": "无法导入：你已有 {existing} 个对话，再导入 {n} 个将超过每人 {limit} 个对话的上限。请先删除一些对话。",
        "en": "Cannot import: you have {existing} conversations, and {n} more would pass the limit of {limit} per person. Delete some first.",
    },
    "history.import_folders": {
        "zh": "无法导入：你已有 {existing} 个文件夹，文件还需要新建 {n} 个，将超过每人 {limit} 个文件夹的上限。",
        "en": "Cannot import: you have {existing} folders, and the file needs {n} more, past the limit of {limit} per person.",
    },
    "history.import_messages": {
        "zh": "无法导入：第 {n} 个对话有 {actual} 条消息，超过每个对话 {limit} 条消息的上限。",
        "en": "Cannot import: conversation {n} has {actual} messages, more than the limit of {limit} per conversation.",
    },
    "history.import_files": {
        "zh": "无法导入：第 {n} 个对话的第 {m} 条消息有 {actual} 个附件，超过每条消息 {limit} 个附件的上限。",
        "en": "Cannot import: message {m} of conversation {n} has {actual} files, more than the limit of {limit} per message.",
    },
    "usage.period": {"zh": "时间范围", "en": "Period"},
    "usage.days": {"zh": "近 {n} 天", "en": "Last {n} days"},
    "usage.all": {"zh": "全部", "en": "All time"},
    "usage.empty": {"zh": "这段时间还没有用量。", "en": "No usage in this period yet."},
    "usage.requests": {"zh": "请求数", "en": "Requests"},
    "usage.prompt": {"zh": "输入 tokens", "en": "Input tokens"},
    "usage.completion": {"zh": "输出 tokens", "en": "Output tokens"},
    "usage.cost_total": {"zh": "费用", "en": "Cost"},
    "usage.by_day": {"zh": "每日用量", "en": "By day"},
    "usage.by_model": {"zh": "按模型", "en": "By model"},
    "usage.by_conversation": {"zh": "按对话", "en": "By conversation"},
    "usage.tokens": {"zh": "tokens", "en": "tokens"},
    "usage.total": {"zh": "合计 tokens", "en": "Total tokens"},
    "usage.model": {"zh": "模型", "en": "Model"},
    "usage.day": {"zh": "日期", "en": "Day"},
    "usage.conversation": {"zh": "对话", "en": "Conversation"},
    "history.not_found": {"zh": "找不到这个对话。", "en": "Conversation not found."},
    "history.db_down": {
        "zh": "对话历史暂时无法保存（数据库不可用）。聊天仍可继续，恢复后会自动补存。",
        "en": "History cannot be saved right now (the database is unavailable). You can keep chatting; it is saved once the database is back.",
    },
    "history.shared": {
        "zh": "共享模式：打开此地址的每个人都能看到并修改这些对话。",
        "en": "Shared mode: everyone who opens this address can see and change these conversations.",
    },
    "side.elsewhere": {
        "zh": "主人的 API Key 只供本机浏览器使用。请填写你自己的 Key，或试用离线演示模型。",
        "en": "The host's API key is only for a browser on the host's own machine. Enter your own key, or try the offline demo.",
    },
    "gate.unverified": {
        "zh": "登录服务没有确认这个邮箱地址（{who}），无法用它进入。",
        "en": "Your sign-in provider has not verified this e-mail address ({who}), so it cannot be used to get in.",
    },
    "history.off": {"zh": "此访问不保存历史记录。", "en": "History is not saved for this visit."},
    "history.recent": {"zh": "对话", "en": "Conversations"},
    "history.import_held": {
        "zh": "文件中的 {total} 个对话里，有 {n} 个已经在你的历史中（之前导入过，或就是从这里导出的）。",
        "en": "{n} of the {total} conversations in the file are already in your history (imported before, or exported from here).",
        "en_one": "1 of the {total} conversations in the file is already in your history (imported before, or exported from here).",
    },
    "history.import_new": {
        "zh": "只导入其余 {n} 个",
        "en": "Import only the other {n}",
        "en_one": "Import only the other one",
    },
    "history.import_copies": {"zh": "全部导入（生成副本）", "en": "Import all, as copies"},
    "history.actions": {"zh": "重命名或删除", "en": "Rename or delete"},
    "side.today": {"zh": "今天", "en": "Today"},
    "side.yesterday": {"zh": "昨天", "en": "Yesterday"},
    "side.earlier": {"zh": "更早", "en": "Earlier"},
    "history.rename": {"zh": "重命名", "en": "Rename"},
    "history.pin": {"zh": "置顶", "en": "Pin"},
    "history.unpin": {"zh": "取消置顶", "en": "Unpin"},
    "history.move": {"zh": "移到文件夹…", "en": "Move to folder…"},
    "side.pinned": {"zh": "已置顶", "en": "Pinned"},
    "history.share": {"zh": "分享…", "en": "Share…"},
    "page.shared": {"zh": "分享的对话", "en": "Shared chat"},
    "share.made": {
        "zh": "只读链接已创建。{who}打开它都能看到这段对话此刻的样子（显示的分支：消息、模型和时间），之后的消息不会加入。在「历史」页可以撤销。",
        "en": "A read-only link is ready. {who} who opens it sees this chat as it is now (the branch shown: its "
        "messages, models and times); later messages are not added. Revoke it on the History page.",
    },
    "share.who_anyone": {"zh": "任何人", "en": "Anyone"},
    "share.who_admitted": {"zh": "能使用本应用的人", "en": "Anyone who may use this app"},
    "share.failed": {
        "zh": "无法创建链接：最多 {n} 个分享链接，或数据库暂时不可用。",
        "en": "No link was made: at most {n} share links, or the database is unavailable.",
    },
    "share.not_found": {"zh": "找不到这个分享链接。", "en": "This share link was not found."},
    "share.note": {
        "zh": "只读副本，分享于 {when}。",
        "en": "A read-only copy, shared {when}.",
    },
    "share.continue": {"zh": "继续这段对话", "en": "Continue this chat"},
    "share.key_to_continue": {
        "zh": "输入你自己的智谱 API Key，即可把这段对话复制为你的对话继续。",
        "en": "Type your own ZhipuAI API key to continue this chat as one of your own.",
    },
    "share.continue_help": {
        "zh": "复制为你自己的对话并打开，原对话不受影响。",
        "en": "Copy it into a chat of your own and open it; the shared one is not changed.",
    },
    "share.links": {"zh": "分享链接", "en": "Share links"},
    "share.none": {"zh": "还没有分享链接。", "en": "No share links yet."},
    "share.revoke": {"zh": "撤销", "en": "Revoke"},
    "share.messages": {"zh": "{n} 条消息", "en": "{n} messages", "en_one": "1 message"},
    "folder.filter": {"zh": "文件夹", "en": "Folder"},
    "folder.all": {"zh": "全部对话", "en": "All chats"},
    "folder.none": {"zh": "不放入文件夹", "en": "No folder"},
    "folder.move_to": {"zh": "移到文件夹", "en": "Move to folder"},
    "folder.new": {"zh": "或新建文件夹", "en": "Or a new folder"},
    "folder.move": {"zh": "移动", "en": "Move"},
    "folder.too_many": {"zh": "最多 {n} 个文件夹。", "en": "At most {n} folders."},
    "folder.title": {"zh": "文件夹", "en": "Folders"},
    "folder.create": {"zh": "新建", "en": "Create"},
    "folder.name": {"zh": "名称", "en": "Name"},
    "folder.save": {"zh": "保存", "en": "Save"},
    "folder.delete": {"zh": "删除文件夹", "en": "Delete folder"},
    "folder.delete_note": {
        "zh": "删除文件夹不会删除其中的对话，它们会移出文件夹。",
        "en": "Deleting a folder keeps its chats; they leave the folder.",
    },
    "folder.count": {"zh": "{n} 个对话", "en": "{n} chats", "en_one": "1 chat"},
    "history.delete": {"zh": "删除", "en": "Delete"},
    "history.delete_confirm": {
        "zh": "确定删除这个对话吗？此操作无法撤销。",
        "en": "Delete this conversation? This cannot be undone.",
    },
    "history.title": {"zh": "标题", "en": "Title"},
    "history.cancel": {"zh": "取消", "en": "Cancel"},
    "history.save": {"zh": "保存", "en": "Save"},
    "history.untitled": {"zh": "新对话", "en": "New chat"},
    "chat.reading_files": {"zh": "正在读取附件…", "en": "Reading the attached files…"},
    "attach.empty": {"zh": "文件是空的。", "en": "The file is empty."},
    "attach.too_many": {"zh": "每条消息最多 {limit} 个附件。", "en": "At most {limit} files per message."},
    "attach.too_big": {
        "zh": "文件太大（{size}，上限 {limit}）。",
        "en": "The file is too big ({size}; the limit is {limit}).",
    },
    "attach.bomb": {
        "zh": "文件解压后过大，已拒绝（疑似压缩炸弹）。",
        "en": "The file expands to an excessive size and was refused (a decompression bomb?).",
    },
    "attach.not_image": {
        "zh": "这不是可用的图片（支持 PNG、JPEG、WebP、GIF）。",
        "en": "This is not a usable image (PNG, JPEG, WebP or GIF).",
    },
    "attach.not_text": {"zh": "文件内容不是文本。", "en": "The file's content is not text."},
    "attach.text_too_long": {
        "zh": "文本太长（{chars} 字符，上限 {limit}）。",
        "en": "The text is too long ({chars} characters; the limit is {limit}).",
    },
    "attach.unsupported": {"zh": "不支持这种文件。", "en": "This kind of file is not supported."},
    "attach.model_no_vision": {
        "zh": "所选模型不支持图片。请换用视觉模型（如 GLM-4.5V、GLM-4V-Plus）后重试。",
        "en": "The chosen model does not take images. Pick a vision model (such as GLM-4.5V or GLM-4V-Plus) and retry.",
    },
    "attach.model_url_only": {
        "zh": "GLM-4V-Flash 只接受图片网址，不接受上传的图片。请换用其他视觉模型。",
        "en": "GLM-4V-Flash takes image URLs only, not uploaded images. Pick another vision model.",
    },
    "attach.too_many_images": {
        "zh": "图片数量超过所选模型的上限。",
        "en": "More images than the chosen model takes in one message.",
    },
    "attach.extract_auth": {
        "zh": "读取文档失败：API Key 无效。",
        "en": "Could not read the document: the API key was refused.",
    },
    "attach.extract_unsupported": {
        "zh": "文档解析服务不支持这个文件。",
        "en": "The document service does not support this file.",
    },
    "attach.extract_network": {
        "zh": "读取文档时无法连接到服务。",
        "en": "Could not reach the service to read the document.",
    },
    "attach.extract_empty": {"zh": "文档里没有可读取的文字。", "en": "No text could be read from the document."},
    "attach.extract_failed": {"zh": "读取文档失败。", "en": "Reading the document failed."},
    "error.attachment": {"zh": "附件无法发送。", "en": "The attachment could not be sent."},
    "error.auth": {
        "zh": "API Key 无效或已过期，请检查后重试。",
        "en": "The API key is invalid or expired. Check it and try again.",
    },
    "error.no_balance": {
        "zh": "账户余额不足，请充值后重试。",
        "en": "Your account has no balance left. Top it up and try again.",
    },
    "error.account": {
        "zh": "账户状态异常（未激活、被锁定或不存在），请在智谱控制台查看。",
        "en": "There is a problem with the account (inactive, locked or missing). Check the ZhipuAI console.",
    },
    "error.quota": {
        "zh": "今日或套餐额度已用完，请稍后再试或更换模型。",
        "en": "The daily or plan quota is used up. Try later or pick another model.",
    },
    "error.busy": {
        "zh": "服务繁忙或请求过于频繁，请稍后重试。",
        "en": "The service is busy or the rate limit was hit. Try again shortly.",
    },
    "error.policy": {
        "zh": "内容可能不符合安全规范，已被拦截。请修改后重试。",
        "en": "The content was blocked by the safety policy. Rephrase and try again.",
    },
    "error.unknown_model": {
        "zh": "模型不存在或已下线，请换一个模型。",
        "en": "This model does not exist or was retired. Pick another model.",
    },
    "error.bad_param": {
        "zh": "请求参数无效，请检查侧边栏中的参数。",
        "en": "A request parameter was rejected. Check the parameters in the sidebar.",
    },
    "error.prompt_too_long": {
        "zh": "对话太长，超出了模型的上下文长度。请新建对话或换用长上下文模型。",
        "en": "The conversation is longer than the model's context window. Start a new chat or use a long-context model.",
    },
    "error.permission": {
        "zh": "此 API Key 无权使用该接口或模型。",
        "en": "This API key may not use this API or model.",
    },
    "error.not_found": {
        "zh": "接口地址不存在，请检查 ZHIPUAI_BASE_URL。",
        "en": "The API address was not found. Check ZHIPUAI_BASE_URL.",
    },
    "error.server": {"zh": "GLM 服务出错了，请稍后重试。", "en": "The GLM service had an error. Try again shortly."},
    "error.timeout": {
        "zh": "GLM 服务长时间没有响应，请稍后重试。",
        "en": "The GLM service did not answer in time. Try again shortly.",
    },
    "error.connection": {
        "zh": "无法连接到 GLM 服务，请检查网络。",
        "en": "Could not reach the GLM service. Check the network.",
    },
    "error.cut": {"zh": "回复中途断开，已保留收到的部分。", "en": "The reply was cut off; what arrived is kept."},
    "error.malformed": {"zh": "收到无法识别的服务器响应。", "en": "The server sent a response that could not be read."},
    "error.model_error": {
        "zh": "模型推理出错，回复未完成。",
        "en": "The model failed while answering; the reply is incomplete.",
    },
    "error.no_key": {
        "zh": "使用此模型需要智谱 API Key：请在侧边栏填写，或改用离线演示模型。",
        "en": "This model needs a ZhipuAI API key: enter one in the sidebar, or use the offline demo model.",
    },
    "error.unknown": {"zh": "发生了未知错误，请重试。", "en": "Something went wrong. Try again."},
    "error.tool_call": {
        "zh": "模型请求调用一个工具（函数），但本应用没有提供任何工具，所以没有回答。请换个问法或重试。",
        "en": "The model asked to call a tool (a function), but this app offers none, so there is no answer. "
        "Rephrase or retry.",
    },
    "error.context_full": {
        "zh": "对话超出了模型的上下文窗口，回复被截断，已保留收到的部分。可以总结较早的消息后重试。",
        "en": "The conversation filled the model's context window and the reply was cut; what arrived is kept. "
        "Summarise earlier messages and retry.",
    },
    "error.odd_finish": {
        "zh": "回复以本应用不认识的方式结束，已保留收到的部分。",
        "en": "The reply ended in a way this app does not know; what arrived is kept.",
    },
    "error.code": {"zh": "错误码 {code}", "en": "error code {code}"},
    "gate.intro": {
        "zh": "此应用由主人提供，使用前需要验证。",
        "en": "This app is shared by its host; please identify yourself first.",
    },
    "gate.password": {"zh": "访问密码", "en": "Access password"},
    "gate.enter": {"zh": "进入", "en": "Enter"},
    "gate.wrong": {"zh": "密码不正确。", "en": "Wrong password."},
    "gate.wait": {
        "zh": "尝试次数过多，请最多等待 {s} 秒后再试。",
        "en": "Too many attempts. Try again in at most {s} s.",
    },
    "gate.not_allowed": {
        "zh": "账号 {who} 未获准使用此应用。",
        "en": "The account {who} is not allowed to use this app.",
    },
    "gate.or": {"zh": "或者", "en": "or"},
    "usage.host_today": {"zh": "主人 Key 今日用量", "en": "The host's key today"},
    "usage.streams": {"zh": "进行中的回复", "en": "Replies streaming"},
    "usage.host_resets": {
        "zh": "每日额度在北京时间 0:00 重置。",
        "en": "Daily allowances reset at 00:00 China time (16:00 UTC).",
    },
    "limit.rpm": {
        "zh": "请求太频繁，已达到主人设置的每分钟请求上限。",
        "en": "Too many requests: the host's per-minute limit is reached.",
    },
    "limit.tokens_day": {
        "zh": "已用完主人设置的今日 token 额度。",
        "en": "The host's token allowance for today is used up.",
    },
    "limit.cny_day": {
        "zh": "已用完主人设置的今日费用额度。",
        "en": "The host's spending allowance for today is used up.",
    },
    "limit.streams": {
        "zh": "同时进行的回复太多，已达到主人设置的上限。",
        "en": "Too many replies are streaming at once for the host's limit.",
    },
    "limit.unpriced": {
        "zh": "这个模型没有已知价格，主人设置的费用额度无法计算它，因此不能用主人的 Key 调用。请从列表中选择模型。",
        "en": "This model has no known price, so the host's spending limits could not count it: it cannot be used on the host's key. Choose a model from the list.",
    },
    "limit.unavailable": {
        "zh": "暂时无法核对用量额度（数据库不可用），为保护主人的 Key，请求未发送。请稍后重试。",
        "en": "Usage limits cannot be checked right now (the database is unavailable), so to protect the host's key nothing was sent. Try again shortly.",
    },
    "limit.resets_in": {"zh": "{time}后恢复。", "en": "It resets in {time}."},
    "limit.when_stream_ends": {"zh": "有回复结束后即可重试。", "en": "Try again when a reply has finished."},
    "limit.own_key": {
        "zh": "也可以在侧边栏填写自己的 API Key 继续使用。",
        "en": "You can also enter your own API key in the sidebar to go on.",
    },
    "time.hm": {"zh": "{h} 小时 {m} 分钟", "en": "{h} h {m} min"},
    "time.ms": {"zh": "{m} 分 {s} 秒", "en": "{m} min {s} s"},
    "time.s": {"zh": "{s} 秒", "en": "{s} s"},
    "config.error": {
        "zh": "应用的访问设置有误，主人需要修改 secrets：{why}",
        "en": "The app's access settings are wrong; the host must fix its secrets: {why}",
    },
    "input.too_long": {
        "zh": "消息太长：{actual:,} 个字符，最多 {limit:,} 个。",
        "en": "The message is too long: {actual:,} characters, at most {limit:,}.",
    },
    "input.too_many_files": {
        "zh": "附件太多：{actual} 个，最多 {limit} 个。",
        "en": "Too many attachments: {actual}, at most {limit}.",
    },
    "input.conversation_full": {
        "zh": "此对话已达到 {limit:,} 条消息的上限，请新建对话。",
        "en": "This conversation has reached its limit of {limit:,} messages. Start a new chat.",
    },
    "input.too_many_conversations": {
        "zh": "已保存的对话已达到 {limit:,} 个的上限，请先删除一些。",
        "en": "You have reached the limit of {limit:,} saved conversations. Delete some first.",
    },
}


def t(key: str, lang: str, **kwargs: object) -> str:
    """The text for key in lang ("zh" or "en"), formatted with kwargs; English has a singular for n == 1."""
    entry = STRINGS[key]
    text = entry["zh"] if lang == "zh" else entry.get("en_one", entry["en"]) if kwargs.get("n") == 1 else entry["en"]
    return text.format(**kwargs) if kwargs else text


def lang_from_locale(locale: str | None) -> str:
    """ "zh" for any Chinese browser locale (zh-CN, zh-TW, zh-Hans…), else "en"."""
    return "zh" if (locale or "").lower().startswith("zh") else "en"
