"""Every text the app shows, in Chinese and English; the language follows the browser unless chosen."""
from __future__ import annotations

LANGS = ("zh", "en")

STRINGS: dict[str, dict[str, str]] = {
    "app.title": {"zh": "GLM Chat", "en": "GLM Chat"},
    "page.chat": {"zh": "对话", "en": "Chat"},
    "chat.placeholder": {"zh": "给 GLM 发消息…", "en": "Message GLM…"},
    "chat.empty": {"zh": "有什么可以帮你？在下方输入消息开始对话。",
                   "en": "How can I help? Type a message below to start."},
    "chat.thinking": {"zh": "思考过程", "en": "Thinking"},
    "chat.thinking_live": {"zh": "思考中…", "en": "Thinking…"},
    "chat.waiting": {"zh": "等待回复… {s} 秒", "en": "Waiting for the reply… {s} s"},
    "chat.retrying": {"zh": "服务繁忙，{s} 秒后重试（第 {n} 次）…", "en": "Busy, retrying in {s} s (attempt {n})…"},
    "chat.stopped": {"zh": "⏹ 已停止生成", "en": "⏹ Stopped"},
    "chat.incomplete": {"zh": "⚠ 回复不完整", "en": "⚠ Reply incomplete"},
    "chat.truncated": {"zh": "⚠ 已达到最大输出长度，回复被截断", "en": "⚠ Reply cut at the maximum output length"},
    "chat.retry": {"zh": "重试", "en": "Retry"},
    "chat.retracted": {"zh": "回复因内容安全策略被撤回。", "en": "The reply was withdrawn by the content policy."},
    "usage.line": {"zh": "{model} · 输入 {prompt} · 输出 {completion} · 合计 {total} tokens",
                   "en": "{model} · {prompt} in · {completion} out · {total} tokens"},
    "usage.ttft": {"zh": "首字 {s} 秒", "en": "first token {s} s"},
    "usage.tps": {"zh": "{v} tokens/秒", "en": "{v} tok/s"},
    "usage.cost": {"zh": "¥{v}", "en": "¥{v}"},
    "usage.none": {"zh": "{model} · 接口未返回用量", "en": "{model} · the API sent no usage"},
    "side.language": {"zh": "语言 / Language", "en": "Language / 语言"},
    "side.model": {"zh": "模型", "en": "Model"},
    "side.custom_model": {"zh": "自定义模型 ID（可选）", "en": "Custom model id (optional)"},
    "side.custom_help": {"zh": "填写后将使用此模型 ID，例如 glm-4.7", "en": "When set, this model id is used, e.g. glm-4.7"},
    "side.params": {"zh": "参数", "en": "Parameters"},
    "side.temperature": {"zh": "温度 temperature", "en": "Temperature"},
    "side.top_p": {"zh": "top_p", "en": "top_p"},
    "side.max_tokens": {"zh": "最大输出 tokens", "en": "Max output tokens"},
    "side.system": {"zh": "系统提示词", "en": "System prompt"},
    "side.system_help": {"zh": "每次请求都作为第一条消息发送", "en": "Sent first with every request"},
    "side.thinking": {"zh": "深度思考", "en": "Thinking"},
    "side.thinking_help": {"zh": "关闭可更快得到回答", "en": "Turn off for faster answers"},
    "side.lang_auto": {"zh": "自动（跟随浏览器）", "en": "Auto (browser)"},
    "side.new_chat": {"zh": "新对话", "en": "New chat"},
    "side.key": {"zh": "API Key", "en": "API key"},
    "side.key_field": {"zh": "你的智谱 API Key", "en": "Your ZhipuAI API key"},
    "side.key_help": {"zh": "只保存在本次会话中，不会被存储或记录。", "en": "Kept only in this session; never stored or logged."},
    "side.key_set": {"zh": "已使用服务器配置的 API Key。", "en": "Using the API key configured on the server."},
    "side.usage": {"zh": "本次会话用量", "en": "This session's usage"},
    "side.usage_line": {"zh": "请求 {n} 次 · 输入 {prompt} · 输出 {completion} tokens · ¥{cost}",
                        "en": "{n} requests · {prompt} in · {completion} out tokens · ¥{cost}"},
    "demo.notice": {"zh": "离线演示：回复来自本地模拟器，不是真实的 GLM。在侧边栏填入智谱 API Key，或设置环境变量 ZHIPUAI_API_KEY，即可与真实模型对话。",
                    "en": "Offline demo: replies come from a local simulator, not the real GLM. Enter a ZhipuAI API key in the sidebar, or set ZHIPUAI_API_KEY, to chat with the real models."},
    "demo.offline_model": {"zh": "离线演示模型不会访问网络。", "en": "The offline demo model never uses the network."},
    "error.auth": {"zh": "API Key 无效或已过期，请检查后重试。", "en": "The API key is invalid or expired. Check it and try again."},
    "error.no_balance": {"zh": "账户余额不足，请充值后重试。", "en": "Your account has no balance left. Top it up and try again."},
    "error.account": {"zh": "账户状态异常（未激活、被锁定或不存在），请在智谱控制台查看。",
                      "en": "There is a problem with the account (inactive, locked or missing). Check the ZhipuAI console."},
    "error.quota": {"zh": "今日或套餐额度已用完，请稍后再试或更换模型。", "en": "The daily or plan quota is used up. Try later or pick another model."},
    "error.busy": {"zh": "服务繁忙或请求过于频繁，请稍后重试。", "en": "The service is busy or the rate limit was hit. Try again shortly."},
    "error.policy": {"zh": "内容可能不符合安全规范，已被拦截。请修改后重试。",
                     "en": "The content was blocked by the safety policy. Rephrase and try again."},
    "error.unknown_model": {"zh": "模型不存在或已下线，请换一个模型。", "en": "This model does not exist or was retired. Pick another model."},
    "error.bad_param": {"zh": "请求参数无效，请检查侧边栏中的参数。", "en": "A request parameter was rejected. Check the parameters in the sidebar."},
    "error.prompt_too_long": {"zh": "对话太长，超出了模型的上下文长度。请新建对话或换用长上下文模型。",
                              "en": "The conversation is longer than the model's context window. Start a new chat or use a long-context model."},
    "error.permission": {"zh": "此 API Key 无权使用该接口或模型。", "en": "This API key may not use this API or model."},
    "error.not_found": {"zh": "接口地址不存在，请检查 ZHIPUAI_BASE_URL。", "en": "The API address was not found. Check ZHIPUAI_BASE_URL."},
    "error.server": {"zh": "GLM 服务出错了，请稍后重试。", "en": "The GLM service had an error. Try again shortly."},
    "error.timeout": {"zh": "GLM 服务长时间没有响应，请稍后重试。", "en": "The GLM service did not answer in time. Try again shortly."},
    "error.connection": {"zh": "无法连接到 GLM 服务，请检查网络。", "en": "Could not reach the GLM service. Check the network."},
    "error.cut": {"zh": "回复中途断开，已保留收到的部分。", "en": "The reply was cut off; what arrived is kept."},
    "error.malformed": {"zh": "收到无法识别的服务器响应。", "en": "The server sent a response that could not be read."},
    "error.model_error": {"zh": "模型推理出错，回复未完成。", "en": "The model failed while answering; the reply is incomplete."},
    "error.no_key": {"zh": "使用此模型需要智谱 API Key：请在侧边栏填写，或改用离线演示模型。",
                     "en": "This model needs a ZhipuAI API key: enter one in the sidebar, or use the offline demo model."},
    "error.unknown": {"zh": "发生了未知错误，请重试。", "en": "Something went wrong. Try again."},
    "error.code": {"zh": "错误码 {code}", "en": "error code {code}"},
}


def t(key: str, lang: str, **kwargs: object) -> str:
    """The text for key in lang ("zh" or "en"), formatted with kwargs."""
    text = STRINGS[key]["zh" if lang == "zh" else "en"]
    return text.format(**kwargs) if kwargs else text


def lang_from_locale(locale: str | None) -> str:
    """"zh" for any Chinese browser locale (zh-CN, zh-TW, zh-Hans…), else "en"."""
    return "zh" if (locale or "").lower().startswith("zh") else "en"
