export * from '../store/buffer-store' // moved to server/store/ (kept so existing imports compile)
