// Placeholder: the real demo replaces this file.
console.log('demo placeholder');
