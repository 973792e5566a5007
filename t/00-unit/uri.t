use strict;
use warnings;
use Test2::V0;

use Future::IO::Redis::URI;

my $CLASS = 'Future::IO::Redis::URI';

sub parse { $CLASS->parse(@_) }

# Every field at once, so a stray value is caught too.
sub fields {
    my ($u) = @_;
    return { map { $_ => $u->$_ }
            qw(scheme host port path database username password tls is_unix protocol client_name) };
}

my %EMPTY = (
    scheme      => 'redis',
    host        => undef,
    port        => undef,
    path        => undef,
    database    => undef,
    username    => undef,
    password    => undef,
    tls         => 0,
    is_unix     => 0,
    protocol    => undef,
    client_name => undef,
);

subtest 'redis:// forms' => sub {
    my @cases = (
        [ 'redis://localhost'           => { host => 'localhost' } ],
        [ 'redis://localhost:6380'      => { host => 'localhost', port => 6380 } ],
        [ 'redis://localhost:6380/2'    => { host => 'localhost', port => 6380, database => 2 } ],
        [ 'redis://localhost/0'         => { host => 'localhost', database => 0 } ],
        [ 'redis://localhost/'          => { host => 'localhost' } ],
        [ 'redis://127.0.0.1:1/15'      => { host => '127.0.0.1', port => 1, database => 15 } ],
        [ 'redis://h:65535'             => { host => 'h',         port => 65535 } ],
        [ 'redis://h:06379'             => { host => 'h',         port => 6379 } ],
        [ 'redis://h:'                  => { host => 'h' } ],
        [ 'redis://'                    => {} ],
        [ 'redis:///3'                  => { database => 3 } ],
        [ 'redis://:6390'               => { port     => 6390 } ],
        [ 'redis://redis_1.svc-a.local' => { host     => 'redis_1.svc-a.local' } ],
        [
            'redis://user:pass@host:6379/1' => {
                host     => 'host',
                port     => 6379,
                database => 1,
                username => 'user',
                password => 'pass'
            }
        ],
        [ 'redis://:pass@host'      => { host => 'host', password => 'pass' } ],
        [ 'redis://user@host'       => { host => 'host', username => 'user' } ],
        [ 'redis://user:@host'      => { host => 'host', username => 'user' } ],
        [ 'redis://:@host'          => { host => 'host' } ],
        [ 'redis://@host'           => { host => 'host' } ],
        [ 'redis://:0@host'         => { host => 'host', password => '0' } ],
        [ 'redis://0:0@host'        => { host => 'host', username => '0', password => '0' } ],
        [ 'REDIS://Host:6379'       => { host => 'Host', port     => 6379 } ],
        [ "  redis://host:6379\n"   => { host => 'host', port     => 6379 } ],
        [ 'redis://host?db=4'       => { host => 'host', database => 4 } ],
        [ 'redis://host/?db=4'      => { host => 'host', database => 4 } ],
        [ 'redis://host/4?db=4'     => { host => 'host', database => 4 } ],
        [ 'redis://host?database=5' => { host => 'host', database => 5 } ],
        [
            'redis://host?protocol=3&client_name=worker%201' =>
                { host => 'host', protocol => 3, client_name => 'worker 1' }
        ],
        [ 'redis://host#frag' => { host => 'host' } ],
    );
    for my $case (@cases) {
        my ( $str, $want ) = @$case;
        my $u = parse($str);
        isa_ok $u, $CLASS;
        is fields($u), { %EMPTY, %$want }, "parse '$str'";
    }
    is fields( parse('redis://host?db=1;protocol=2') ),
        { %EMPTY, host => 'host', database => 1, protocol => 2 },
        'semicolon separates query parameters';
};

subtest 'rediss://' => sub {
    my $u = parse('rediss://default:pw@secure.example.com:6380/1');
    is fields($u),
        {
        %EMPTY,
        scheme   => 'rediss',
        host     => 'secure.example.com',
        port     => 6380,
        database => 1,
        username => 'default',
        password => 'pw',
        tls      => 1,
        },
        'TLS URI';
    is [ $u->to_options ],
        [
        host     => 'secure.example.com',
        port     => 6380,
        database => 1,
        username => 'default',
        password => 'pw',
        tls      => 1
        ],
        'to_options includes tls => 1';
};

subtest 'unix sockets' => sub {
    my @cases = (
        [ 'redis+unix:///tmp/redis.sock'              => {} ],
        [ 'unix:///tmp/redis.sock'                    => { scheme   => 'unix' } ],
        [ 'redis+unix:///tmp/redis.sock?db=3'         => { database => 3 } ],
        [ 'redis+unix://:secret@/tmp/redis.sock?db=3' => { database => 3, password => 'secret' } ],
        [
            'redis+unix://user:secret@/tmp/redis.sock' =>
                { username => 'user', password => 'secret' }
        ],
        [ 'unix://:pw@/tmp/redis.sock'    => { scheme => 'unix', password => 'pw' } ],
        [ 'redis+unix://@/tmp/redis.sock' => {} ],
        [ 'redis+unix://:0@/tmp/redis.sock'              => { password => '0' } ],
        [ 'redis+unix:///tmp/redis.sock?db=0&protocol=3' => { database => 0, protocol => 3 } ],
    );
    for my $case (@cases) {
        my ( $str, $want ) = @$case;
        is fields( parse($str) ),
            { %EMPTY, scheme => 'redis+unix', is_unix => 1, path => '/tmp/redis.sock', %$want },
            "parse '$str'";
    }

    is parse('redis+unix:///var/run/my%20redis.sock')->path, '/var/run/my redis.sock',
        'path decoded';
    is parse('redis+unix:///tmp/a%3Fb.sock?db=1')->path, '/tmp/a?b.sock', 'encoded ? in path';
    is parse('redis+unix:///tmp/x@/y.sock')->path, '/tmp/x@/y.sock',
        '@/ inside the path, no userinfo';
    is parse('redis+unix://:p@ss@/tmp/s')->password, 'p@ss', '@ in a unix password';

    is [ parse('redis+unix://:pw@/tmp/redis.sock?db=2')->to_options ],
        [ path => '/tmp/redis.sock', database => 2, password => 'pw' ], 'to_options';
};

subtest 'IPv6' => sub {
    my $u = parse('redis://[::1]:6380/2');
    is [ $u->host, $u->port, $u->database ],  [ '::1', 6380, 2 ], '[::1]:6380/2';
    is parse('redis://[2001:db8::42]')->host, '2001:db8::42',     'without port';
    is parse('redis://u:p@[::ffff:127.0.0.1]:7000')->host, '::ffff:127.0.0.1',
        'mapped IPv4 with userinfo';
    is parse('redis://[fe80::1%25eth0]:6379')->host, 'fe80::1%eth0', 'zone id';
    is "$u", 'redis://[::1]:6380/2',                                 'as_string brackets the host';
    is parse('redis://[fe80::1%25eth0]')->as_string, 'redis://[fe80::1%25eth0]', 'zone round-trips';
};

subtest 'percent-decoding and special characters' => sub {
    my $u = parse('redis://us%40er:p%40ss%3Aw%2Fd@host');
    is [ $u->username, $u->password ], [ 'us@er', 'p@ss:w/d' ], 'decoded user and password';

    is parse('redis://:p@ss@host:1')->password, 'p@ss',
        'raw @ in password: userinfo ends at the last @';
    is parse('redis://:a/b?c#d@host/3')->password, 'a/b?c#d',      'raw / ? # in password';
    is parse('redis://u:a:b@host')->password,      'a:b',          'colon in password';
    is parse('redis://:100%@host')->password,      '100%',         'stray % kept';
    is parse('redis://:%e2%82%ac@host')->password, "\xe2\x82\xac", 'decoded as bytes';
};

subtest 'to_options' => sub {
    is [ parse('redis://localhost')->to_options ], [ host => 'localhost' ], 'only what is present';
    is [ parse('redis://')->to_options ],          [],                      'nothing';
    is [ parse('redis://u:0@h:1/0?protocol=3&client_name=x')->to_options ],
        [
        host        => 'h',
        port        => 1,
        database    => 0,
        username    => 'u',
        password    => '0',
        protocol    => 3,
        client_name => 'x',
        ],
        'every part, database 0 and password "0" kept';
};

subtest 'as_string masks the password' => sub {
    my @cases = (
        [ 'redis://user:hunter2@host:6379/1'       => 'redis://user:***@host:6379/1' ],
        [ 'redis://:hunter2@host'                  => 'redis://:***@host' ],
        [ 'redis://user@host'                      => 'redis://user@host' ],
        [ 'rediss://u:hunter2@h'                   => 'rediss://u:***@h' ],
        [ 'redis+unix://:hunter2@/tmp/r.sock?db=2' => 'redis+unix://:***@/tmp/r.sock?db=2' ],
        [ 'redis://us%40er:hunter2@h'              => 'redis://us%40er:***@h' ],
        [ 'redis://h?client_name=a%20b&protocol=3' => 'redis://h?protocol=3&client_name=a%20b' ],
        [ 'redis://h?db=3'                         => 'redis://h/3' ],
        [ 'redis://:0@h'                           => 'redis://:***@h' ],
    );
    for my $case (@cases) {
        my ( $str, $want ) = @$case;
        my $u = parse($str);
        is $u->as_string, $want, "as_string of '$str'";
        is "$u",          $want, 'stringification';
        unlike "$u", qr/hunter2/, 'password absent';
    }
    is parse( parse('redis://u:pw@h/1')->as_string )->password, '***',
        'the masked form is itself parseable';
    my $u = parse('redis://h');
    ref_is $CLASS->parse($u), $u, 'parse returns an object unchanged';
};

subtest 'mask' => sub {
    is $CLASS->mask('redis://u:hunter2@h:1/2'), 'redis://u:***@h:1/2',   'userinfo';
    is $CLASS->mask('redis://:hunter2@h'),      'redis://:***@h',        'password only';
    is $CLASS->mask('redis://h:6379/0'),        'redis://h:6379/0',      'nothing to hide';
    is $CLASS->mask('redis+unix:///tmp/x@y'),   'redis+unix:///tmp/x@y', 'unix path with @';
    is $CLASS->mask('redis://h/0?password=hunter2&x=1'), 'redis://h/0?password=***&x=1',
        'password param';
    is $CLASS->mask(undef), undef, 'undef';

    # Malformed strings still never show the password (regression: the
    # mask once needed a well-formed "scheme://" to find it).
    for my $bad (
        'redis:/:hunter2@localhost:6379', ':hunter2@localhost:6379',
        'redis//user:hunter2@host',       'redis+unix://:hunter2@sock',
        'redis://u:hun/ter2@h',           'redis://u:hun:ter2@h'
    ) {
        unlike $CLASS->mask($bad), qr/hunter2|hun|ter2/, "masked: $bad";
        my $err = dies { $CLASS->parse($bad) };
        unlike $err // '', qr/hunter2|ter2/, "error (if any) hides it: $bad";
    }
    is $CLASS->mask('redis+unix://:pw@/tmp/x@y'), 'redis+unix://:***@/tmp/x@y',
        'unix credentials end at the first @/';
};

subtest 'errors' => sub {
    my @cases = (
        [ undef,                              qr/must be a string/ ],
        [ [],                                 qr/must be a string/ ],
        [ '',                                 qr/expected scheme/ ],
        [ 'localhost:6379',                   qr/expected scheme/ ],
        [ 'garbage',                          qr/expected scheme/ ],
        [ 'http://u:hunter2@host',            qr/unsupported scheme 'http'/ ],
        [ 'redis:/host',                      qr/expected scheme/ ],
        [ 'redis://host:0',                   qr/invalid port '0'/ ],
        [ 'redis://u:hunter2@host:65536',     qr/invalid port '65536'/ ],
        [ 'redis://host:-1',                  qr/invalid port '-1'/ ],
        [ 'redis://host:abc',                 qr/invalid port 'abc'/ ],
        [ 'redis://host:63 79',               qr/invalid port/ ],
        [ 'redis://:hunter2@host/x',          qr/invalid database 'x'/ ],
        [ 'redis://host/-1',                  qr/invalid database '-1'/ ],
        [ 'redis://host/1/2',                 qr/invalid database '1\/2'/ ],
        [ 'redis://host/1.5',                 qr/invalid database '1.5'/ ],
        [ 'redis://host?db=abc',              qr/invalid database 'abc'/ ],
        [ 'redis://host/1?db=2',              qr/database given twice/ ],
        [ 'redis://host?protocol=4',          qr/invalid protocol '4'/ ],
        [ 'redis://u:hunter2@host?timeout=3', qr/unknown query parameter 'timeout'/ ],
        [ 'redis://h/0?password=hunter2',     qr/unknown query parameter 'password'/ ],
        [ 'redis://::1:6379',                 qr/IPv6 .* brackets/ ],
        [ 'redis://[::1',                     qr/invalid bracketed host '\[::1'/ ],
        [ 'redis://[::1]x',                   qr/invalid bracketed host/ ],
        [ 'redis://[zz::1]:6379',             qr/invalid IPv6 address/ ],
        [ 'redis://[localhost]',              qr/invalid IPv6 address/ ],
        [ 'redis://ho st',                    qr/invalid host 'ho st'/ ],
        [ 'redis+unix://',                    qr/absolute path/ ],
        [ 'redis+unix:///',                   qr/absolute path/ ],
        [ 'redis+unix://:hunter2@tmp/sock',   qr/absolute path/ ],
        [ 'redis+unix://localhost/tmp/sock',  qr/absolute path/ ],
        [ 'unix:///tmp/s?db=no',              qr/invalid database 'no'/ ],
        [ 'rediss://:hunter2@h:99999',        qr/invalid port '99999'/ ],
    );
    for my $case (@cases) {
        my ( $str, $re ) = @$case;
        my $name = defined $str ? "'$str'" : 'undef';
        my $err  = dies { parse($str) };
        like $err,   $re,                                "error for $name";
        like $err,   qr/\bat \Q${\__FILE__}\E line \d+/, 'reported at the caller';
        unlike $err, qr/hunter2/,                        'message hides the password';
    }
    like dies { parse('redis://u:hunter2@host:0') }, qr{'redis://u:\*\*\*\@host:0'},
        'message shows the masked URI';
};

done_testing;
